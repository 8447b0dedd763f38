"""vecsmith: practical tools around word embeddings and small text models.

Subpackages are imported on demand so that `import vecsmith` stays light:
`vecsmith.fasttext`, `vecsmith.store`, `vecsmith.transfer`, `vecsmith.optim`,
`vecsmith.rnn`, `vecsmith.cluster`, `vecsmith.linear`.
"""

__version__ = "0.1.0"
