"""Online linear models over sparse features: hinge/logistic SGD, hashing or lookup, crosses.

``OnlineLinearClassifier`` is a scikit-learn estimator that learns one sample at a time over
VW-style features; :class:`Featurizer` turns token lists, dicts, VW lines or words (character
n-grams) into hashed or looked-up sparse features.
"""

from .features import (
    FeatureFormatError,
    Featurizer,
    SparseBatch,
    collision_rate,
    murmur3,
    parse_vw_line,
    read_vw,
)
from .online import LinearModelFormatError, NotFittedError, OnlineLinearClassifier, Progressive

__all__ = [
    "FeatureFormatError",
    "Featurizer",
    "LinearModelFormatError",
    "NotFittedError",
    "OnlineLinearClassifier",
    "Progressive",
    "SparseBatch",
    "collision_rate",
    "murmur3",
    "parse_vw_line",
    "read_vw",
]
