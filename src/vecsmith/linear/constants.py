"""Named settings shared by the estimator, the kernels and the model file (no numba here).

The kernels take the integer values; the estimator and the saved config use the names.
"""

from __future__ import annotations

from enum import IntEnum


class Loss(IntEnum):
    HINGE = 0
    LOGISTIC = 1


class Schedule(IntEnum):
    CONSTANT = 0
    INVSCALING = 1
    ADAPTIVE = 2


class InputMode(IntEnum):
    """How the parse kernel reads a sample."""

    VW = 0  # VW feature text: |ns[:scale] f[:v] ...
    CHAR_NGRAMS = 1  # one word; features are character n-grams of " " + word + " "


LOSSES = {"hinge": Loss.HINGE, "logistic": Loss.LOGISTIC, "log_loss": Loss.LOGISTIC}
SCHEDULES = {"constant": Schedule.CONSTANT, "invscaling": Schedule.INVSCALING,
             "adaptive": Schedule.ADAPTIVE}

MAX_BITS = 31  # hashed tables of 2**bits rows; bits above this would not index with int32
FNV_PRIME = 16777619  # VW's cross-feature multiplier
SEED2 = 0x5BD1E995  # second murmur seed for the 64-bit lookup fingerprint
