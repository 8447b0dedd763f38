"""Training loop for `CharRNNClassifier`: minibatches, validation split, early stopping, metrics.

The loop pre-encodes texts once, shuffles with a seeded generator, evaluates on a held-out
split (stratified by label) after every epoch (or every `eval_every` steps), keeps the best
weights by validation loss and stops after `patience` evaluations without improvement or when
`max_seconds` is spent. Progress shows on stderr.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from vecsmith._deps import resolve_device
from vecsmith._progress import progress

from .batching import pad_ids
from .metrics import ClassificationReport, classification_report
from .models import CharRNNClassifier

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter], float], torch.optim.Optimizer]


@dataclass
class TrainConfig:
    """How to train; every randomised step draws from `seed`."""

    epochs: int = 20
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    optimizer: str | OptimizerFactory = "adam"
    val_fraction: float = 0.1
    patience: int = 3
    eval_every: int | None = None
    max_seconds: float | None = None
    grad_clip: float | None = 5.0
    seed: int = 0
    device: str = "auto"
    quiet: bool = False

    def __post_init__(self) -> None:
        """Out-of-range values fail here, before any data is encoded or any step is taken
        (an epoch count of 0 would save an untrained model, a batch size of 0 divide by 0)."""
        def need(ok: bool, what: str, value) -> None:
            if not ok:
                raise ValueError(f"{what}, got {value!r}")

        need(self.epochs >= 1, "epochs must be >= 1", self.epochs)
        need(self.batch_size >= 1, "batch_size must be >= 1", self.batch_size)
        need(self.lr > 0 and math.isfinite(self.lr), "lr must be a finite number > 0", self.lr)
        need(self.weight_decay >= 0, "weight_decay must be >= 0", self.weight_decay)
        need(callable(self.optimizer) or self.optimizer in ("adam", "smorms3"),
             "optimizer must be 'adam', 'smorms3' or a factory", self.optimizer)
        need(0 <= self.val_fraction < 1, "val_fraction must be in [0, 1)", self.val_fraction)
        need(self.patience >= 1, "patience must be >= 1", self.patience)
        need(self.eval_every is None or self.eval_every >= 1, "eval_every must be >= 1",
             self.eval_every)
        need(self.max_seconds is None or self.max_seconds > 0, "max_seconds must be > 0",
             self.max_seconds)
        need(self.grad_clip is None or self.grad_clip > 0, "grad_clip must be > 0",
             self.grad_clip)


@dataclass
class TrainResult:
    """What training did: per-evaluation history, the best evaluation, and the validation report."""

    model: CharRNNClassifier
    history: list[dict] = field(default_factory=list)
    best_step: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    examples_seen: int = 0
    val_report: ClassificationReport | None = None


def make_optimizer(name: str | OptimizerFactory, params, lr: float,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``"adam"`` (default), ``"smorms3"`` (from `vecsmith.optim`), or a factory ``f(params, lr)``."""
    params = list(params)
    if callable(name):
        return name(params, lr)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "smorms3":
        try:
            from vecsmith.optim import SMORMS3
        except ImportError as exc:
            raise ValueError("optimizer 'smorms3' needs vecsmith.optim, which is not "
                             "available in this installation") from exc
        return SMORMS3(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; use 'adam', 'smorms3' or a factory")


def stratified_split(labels: Sequence[str], fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with about `fraction` of every label in val (at least one where a
    label has two or more examples)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError("val_fraction must be in [0, 1)")
    rng = np.random.default_rng(seed)
    labels_arr = np.asarray(labels, dtype=object)
    train, val = [], []
    for lab in sorted(set(labels)):
        idx = np.flatnonzero(labels_arr == lab)
        rng.shuffle(idx)
        n_val = round(len(idx) * fraction) if fraction > 0 else 0
        if fraction > 0 and n_val == 0 and len(idx) >= 2:
            n_val = 1
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


@torch.no_grad()
def evaluate(model: CharRNNClassifier, texts: Sequence[str], labels: Sequence[str],
             batch_size: int = 1024) -> ClassificationReport:
    """Predict `texts` and score against `labels` over the model's label set."""
    unknown = set(map(str, labels)) - set(model.labels)
    if unknown:
        raise ValueError(f"labels the model does not know: {sorted(unknown)[:5]}")
    predicted = model.predict(list(texts), batch_size=batch_size)
    return classification_report([str(x) for x in labels], predicted, labels=model.labels)


def _batched_loss(model: CharRNNClassifier, ids: list[list[int]], targets: torch.Tensor,
                  batch_size: int) -> tuple[float, list[int]]:
    model.eval()
    total, preds = 0.0, []
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            batch = pad_ids(ids[start:start + batch_size])
            logits = model(batch)
            y = targets[start:start + batch_size].to(logits.device)
            total += float(F.cross_entropy(logits, y, reduction="sum"))
            preds.extend(logits.argmax(1).tolist())
    model.train()
    return total / max(len(ids), 1), preds


def train_classifier(texts: Sequence[str], labels: Sequence[str],
                     model: CharRNNClassifier | None = None,
                     config: TrainConfig | None = None,
                     val: tuple[Sequence[str], Sequence[str]] | None = None,
                     **model_settings) -> TrainResult:
    """Train a char-RNN classifier on `texts` → `labels`; returns the best model by validation loss.

    `val` gives an explicit validation set; otherwise `config.val_fraction` of the data is held
    out (stratified). Without any validation data (fraction 0) it trains for `epochs` and keeps
    the last weights. `model_settings` (cell, hidden_size, reverse, dropout, ...) build a new
    model when `model` is None.
    """
    cfg = config or TrainConfig()
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if len(texts) == 0:
        raise ValueError("no training data")
    labels = [str(x) for x in labels]
    torch.manual_seed(cfg.seed)
    if val is None:
        tr_idx, va_idx = stratified_split(labels, cfg.val_fraction, cfg.seed)
        tr_texts = [texts[i] for i in tr_idx]
        tr_labels = [labels[i] for i in tr_idx]
        va_texts = [texts[i] for i in va_idx]
        va_labels = [labels[i] for i in va_idx]
    else:
        tr_texts, tr_labels = list(texts), labels
        va_texts, va_labels = list(val[0]), [str(x) for x in val[1]]
    if model is None:
        model = CharRNNClassifier.build(tr_texts, labels, **model_settings)
    elif model_settings:
        raise TypeError("model settings given together with a model")
    device = resolve_device(cfg.device)
    model.to(device).train()
    label_id = {lab: i for i, lab in enumerate(model.labels)}
    missing = set(tr_labels + va_labels) - set(label_id)
    if missing:
        raise ValueError(f"labels the model does not know: {sorted(missing)[:5]}")
    tr_ids = model.vocab.encode_batch(tr_texts)
    va_ids = model.vocab.encode_batch(va_texts)
    tr_y = torch.tensor([label_id[x] for x in tr_labels], dtype=torch.long)
    va_y = torch.tensor([label_id[x] for x in va_labels], dtype=torch.long)

    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    n = len(tr_ids)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    eval_every = cfg.eval_every or steps_per_epoch
    result = TrainResult(model=model)
    best_loss, best_state, bad_evals = math.inf, None, 0
    start = time.perf_counter()
    step, running, running_n = 0, 0.0, 0
    out_of_time = False
    with progress(cfg.quiet) as bar:
        task = bar.add_task("training", total=cfg.epochs * steps_per_epoch)
        for epoch in range(cfg.epochs):
            order = rng.permutation(n)
            for b in range(steps_per_epoch):
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                batch = pad_ids([tr_ids[i] for i in idx])
                logits = model(batch)
                loss = F.cross_entropy(logits, tr_y[idx].to(logits.device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                step += 1
                result.examples_seen += len(idx)
                running += float(loss.detach()) * len(idx)
                running_n += len(idx)
                bar.advance(task)
                elapsed = time.perf_counter() - start
                out_of_time = cfg.max_seconds is not None and elapsed >= cfg.max_seconds
                last_step = epoch == cfg.epochs - 1 and b == steps_per_epoch - 1
                if step % eval_every and not out_of_time and not last_step:
                    continue
                entry = {"epoch": epoch + 1, "step": step, "seconds": round(elapsed, 3),
                         "train_loss": running / max(running_n, 1)}
                running, running_n = 0.0, 0
                if va_ids:
                    vloss, vpred = _batched_loss(model, va_ids, va_y, 1024)
                    acc = float(np.mean(np.asarray(vpred) == va_y.numpy()))
                    entry.update(val_loss=vloss, val_accuracy=acc)
                    bar.update(task, description=f"val loss {vloss:.3f} acc {acc:.3f}")
                    if vloss < best_loss - 1e-6:
                        best_loss, bad_evals, result.best_step = vloss, 0, step
                        best_state = copy.deepcopy(model.state_dict())
                    else:
                        bad_evals += 1
                result.history.append(entry)
                if va_ids and bad_evals >= cfg.patience:
                    result.stopped_early = True
                    break
                if out_of_time:
                    break
            if result.stopped_early or out_of_time:
                break
    result.seconds = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_step = step
    model.eval()
    if va_ids:
        result.val_report = evaluate(model, va_texts, va_labels)
    return result
