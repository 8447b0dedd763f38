"""vecsmith: practical tools around word embeddings and small text models.

Subpackages are imported on demand so that `import vecsmith` stays light:
`vecsmith.fasttext`, `vecsmith.store`, `vecsmith.transfer`, `vecsmith.optim`,
`vecsmith.rnn`, `vecsmith.cluster`, `vecsmith.linear`. What they share is public in modules
of its own: `vecsmith.subwords` (fastText's subword scheme), `vecsmith.neighbours` (ranking
rules) and `vecsmith.protocol` (`VectorSource`, what a model and a store both answer).
"""

__version__ = "0.1.0"
