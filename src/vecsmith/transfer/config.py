"""`TransferConfig`: every setting of subword transfer in one validated value.

Like `vecsmith.rnn.TrainConfig`: `fit(words, vectors, config=TransferConfig(...))`, or keyword
overrides on the defaults (`fit(words, vectors, bucket=200_000)`), which is what the command
line does. `bucket` and `epochs` default to None: sized to the vocabulary (`sized_for`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

LOSSES = ("cosine", "cosine+norm", "mse")
WEIGHTINGS = ("uniform", "log-rank", "counts")
INITS = ("lstsq", "random", "mean")
OPTIMIZERS = ("smorms3", "adam")
MAX_BUCKET = 1 << 31
# Sizing rule (benchmarks/RESULTS.md, "Transfer defaults sized to the vocabulary"): about ten
# buckets a word, at least MIN_BUCKET and at most MAX_AUTO_BUCKET (the previous fixed default).
# At 20,000 words the ablation measured held-out cosine 0.498 / 0.526 / 0.538 for 50k / 200k /
# 1M buckets: 10 a word keeps most of the gain at a fifth of the table.
BUCKETS_PER_WORD = 10
MIN_BUCKET = 10_000
MAX_AUTO_BUCKET = 1_000_000


class TransferError(ValueError):
    """Bad input to subword transfer (shapes, parameters, words without n-grams)."""


def auto_bucket(nwords: int) -> int:
    """Buckets for a vocabulary of `nwords`: 10 a word, within [10,000, 1,000,000]."""
    return int(min(MAX_AUTO_BUCKET, max(MIN_BUCKET, BUCKETS_PER_WORD * nwords)))


def auto_epochs(nwords: int) -> int:
    """The most epochs for `nwords` words (early stopping usually ends sooner): about 400,000
    word updates, at least 8 and at most 30. Measured best epochs: 4 of 7 run at 20,000
    words, 2 of 5 at 400,000 (benchmarks/RESULTS.md), so the cap rarely binds there."""
    return int(min(30, max(8, math.ceil(400_000 / max(nwords, 1)))))


def check_ngram_params(minn: int, maxn: int, bucket: int) -> None:
    if not 1 <= minn <= maxn:
        raise TransferError(f"need 1 <= minn <= maxn, got minn={minn}, maxn={maxn}")
    if maxn > 32:
        raise TransferError(f"maxn={maxn} is beyond any sensible n-gram length (max 32)")
    if not 1 <= bucket < MAX_BUCKET:
        raise TransferError(f"bucket must be in [1, 2^31), got {bucket}")


@dataclass(frozen=True)
class TransferConfig:
    """Settings of :func:`vecsmith.transfer.fit`; what each does is documented there.

    `bucket=None` and `epochs=None` are sized to the vocabulary by `sized_for`.
    """

    minn: int = 3
    maxn: int = 6
    bucket: int | None = None
    init: str = "lstsq"
    lstsq_iter: int = 60
    lstsq_blend: float = 0.25
    loss: str = "cosine+norm"
    norm_weight: float = 0.1
    contrast: float = 0.0
    temperature: float = 0.05
    negatives: int = 1024
    weighting: str = "log-rank"
    ngram_dropout: float = 0.2
    weight_decay: float = 0.0
    lr_decay: float = 0.5
    optimizer: str = "smorms3"
    lr: float = 0.05
    batch_size: int = 256
    epochs: int | None = None
    holdout: float = 0.02
    patience: int = 3
    init_scale: float = 0.1
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    quiet: bool = False

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def with_overrides(self, **overrides) -> TransferConfig:
        """A copy with some settings changed; an unknown name is a TypeError, as for a
        function's keywords."""
        unknown = sorted(set(overrides) - set(self.names()))
        if unknown:
            raise TypeError(f"unknown transfer setting(s) {unknown}; known: {self.names()}")
        return replace(self, **overrides)

    def sized_for(self, nwords: int) -> TransferConfig:
        """`bucket` and `epochs` filled in for a vocabulary of `nwords` where left None."""
        return replace(self, bucket=auto_bucket(nwords) if self.bucket is None else self.bucket,
                       epochs=auto_epochs(nwords) if self.epochs is None else self.epochs)

    def as_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> TransferConfig:
        """Raise TransferError naming the first bad setting; returns self."""
        if self.bucket is not None:
            check_ngram_params(self.minn, self.maxn, self.bucket)
        if self.loss not in LOSSES:
            raise TransferError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.init not in INITS:
            raise TransferError(f"init must be one of {INITS}, got {self.init!r}")
        if self.weighting not in WEIGHTINGS:
            raise TransferError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if not 0.0 <= self.ngram_dropout < 1.0:
            raise TransferError(f"ngram_dropout must be in [0, 1), got {self.ngram_dropout}")
        if self.optimizer not in OPTIMIZERS:
            raise TransferError(f"optimizer must be 'smorms3' or 'adam', got {self.optimizer!r}")
        if (self.epochs is not None and self.epochs < 1) or self.batch_size < 1 or \
                self.patience < 1 or self.lstsq_iter < 1:
            raise TransferError("epochs, batch_size, patience and lstsq_iter must be positive")
        if not 0.0 <= self.lstsq_blend <= 1.0:
            raise TransferError(f"lstsq_blend must be in [0, 1], got {self.lstsq_blend}")
        if not 0.0 <= self.holdout < 1.0:
            raise TransferError(f"holdout must be in [0, 1), got {self.holdout}")
        if self.lr <= 0 or self.norm_weight < 0 or self.init_scale < 0:
            raise TransferError("lr must be > 0; norm_weight and init_scale must be >= 0")
        if self.contrast < 0 or self.temperature <= 0 or self.negatives < 0:
            raise TransferError(f"need contrast >= 0 (got {self.contrast}), temperature > 0 "
                                f"(got {self.temperature}) and negatives >= 0 (got "
                                f"{self.negatives})")
        if not 0.0 < self.lr_decay <= 1.0 or self.weight_decay < 0:
            raise TransferError(f"need 0 < lr_decay <= 1 (got {self.lr_decay}) and "
                                f"weight_decay >= 0 (got {self.weight_decay})")
        if self.threads is not None and self.threads < 1:
            raise TransferError(f"threads must be >= 1, got {self.threads}")
        return self
