"""Subword transfer: give word vectors without n-grams (GloVe, word2vec) an n-gram table.

fastText embeds an unseen word as the mean of its hashed character n-gram rows. GloVe and
word2vec have no such rows, so an unseen word has no vector at all. :func:`fit` learns them
in three steps. First the least-squares table (block CGLS from zero, stopped where held-out
words fit best) gives a start whose neighbour structure is already sound. Then an
``nn.EmbeddingBag(mode="mean", sparse=True)`` over the fastText-hashed n-grams of every
vocabulary word, starting from that table, is trained so that the mean of a word's rows points
where the word's own vector points (cosine loss), with a small log-norm term so lengths stay
comparable, frequent words weighted up, random n-gram dropout, and early stopping on held-out
words. Last, a quarter of the plain least-squares table (CGLS run on, not stopped early) is
blended in: the two tables err differently, and the mix keeps more of an unseen word's true
neighbours than either at about the trained table's cosine. The table then goes into a store
(:meth:`SubwordTable.to_store`) whose OOV lookups are exactly fastText's, while vocabulary
words keep their original vectors.

    >>> from vecsmith import transfer, store
    >>> from vecsmith.wordvectors import load_packaged_glove
    >>> words, vectors = load_packaged_glove()
    >>> table = transfer.fit(words, vectors)        # minn=3, maxn=6, buckets sized to the words
    >>> cfg = transfer.TransferConfig(bucket=2_000_000, epochs=10)
    >>> table = transfer.fit(words, vectors, config=cfg)
    >>> table.to_store(words, vectors, "glove.store")
    >>> store.open("glove.store")["unbelieveable"]            # now has a vector

Layout: ``config.py`` (:class:`TransferConfig`, sizing rules), ``fit.py`` (the training loop),
``lstsq.py`` (least squares and the blend), ``table.py`` (:class:`SubwordTable`, n-gram ids).
Why these defaults: see ``README.md`` and ``benchmarks/RESULTS.md``
(the ablation over the blend, start, loss, weighting, dropout and bucket count).
"""

from vecsmith.transfer.config import (
    INITS,
    LOSSES,
    MAX_BUCKET,
    WEIGHTINGS,
    TransferConfig,
    TransferError,
    auto_bucket,
    auto_epochs,
)
from vecsmith.transfer.fit import fit, frequency_weights, stratified_holdout
from vecsmith.transfer.table import SubwordTable, ngram_ids

__all__ = ["INITS", "LOSSES", "MAX_BUCKET", "WEIGHTINGS", "SubwordTable", "TransferConfig",
           "TransferError", "auto_bucket", "auto_epochs", "fit", "frequency_weights",
           "ngram_ids", "stratified_holdout"]
