"""Online linear models over sparse features: hinge/logistic SGD, hashing or lookup, crosses.

``OnlineLinearClassifier`` is a scikit-learn estimator that learns one sample at a time over
VW-style features; :class:`Featurizer` turns token lists, dicts, VW lines or words (character
n-grams) into hashed or looked-up sparse features.

Layout: ``features.py`` (samples -> text -> CSR, Python side), ``_parse.py`` and
``_hashing.py`` (its numba kernels), ``online.py`` (the estimator), ``kernels.py`` (the SGD
update and batch prediction), ``serialize.py`` (the ``.lin`` file), ``constants.py``.
Importing this package needs only numpy: numba, scikit-learn and safetensors (the
``linear`` extra) are imported on first use, with a message naming the extra if missing.
"""

from __future__ import annotations

from typing import Any

from .constants import InputMode, Loss, Schedule
from .features import (
    FeatureFormatError,
    Featurizer,
    SparseBatch,
    collision_rate,
    murmur3,
    parse_vw_line,
    read_vw,
)
from .serialize import LinearModelFormatError

_ESTIMATOR = {"OnlineLinearClassifier", "NotFittedError", "Progressive"}


def __getattr__(name: str) -> Any:
    """The estimator and its names import scikit-learn: only when first asked for."""
    if name in _ESTIMATOR:
        from . import online

        return getattr(online, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FeatureFormatError",
    "Featurizer",
    "InputMode",
    "LinearModelFormatError",
    "Loss",
    "NotFittedError",
    "OnlineLinearClassifier",
    "Progressive",
    "Schedule",
    "SparseBatch",
    "collision_rate",
    "murmur3",
    "parse_vw_line",
    "read_vw",
]
