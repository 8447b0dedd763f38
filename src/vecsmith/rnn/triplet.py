"""Stem-aware word embeddings trained with a triplet loss on P×K batches of stems.

`StemEmbedder` maps words to unit vectors (character encoder → linear → L2 normalise) so
that words sharing a stem are close in cosine distance and others are at least `margin`
farther. Batches hold P stems × up to K words each; part of the stems in every batch are
chosen to share a prefix with another stem in the batch, because those words (same prefix,
different stem) are the negatives that teach most. Mining is batch-hard (Hermans et al.
2017) or semi-hard (FaceNet). Reading right to left is the default: the encoder's final
state then ends on the start of the word, where the stem is.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vecsmith._deps import require, resolve_device
from vecsmith._progress import progress
from vecsmith.neighbours import rank

from .batching import length_buckets, pad_ids
from .models import CharEncoder, EncoderConfig, Inputs
from .serialize import build_checked, load_folder, save_folder
from .train import make_optimizer
from .vocab import CharVocab

MINING = ("batch-hard", "semi-hard")


def triplet_loss(emb: Tensor, labels: Tensor, margin: float = 0.3,
                 mining: str = "semi-hard") -> tuple[Tensor, float]:
    """Mean triplet loss ``max(d(a,p) - d(a,n) + margin, 0)`` with cosine distance on unit rows.

    batch-hard: per anchor, the farthest positive and the closest negative.
    semi-hard: per (anchor, positive) pair, the closest negative farther than the positive;
    when none is, the farthest negative (as tfa's TripletSemiHardLoss does).
    Returns (loss, fraction of triplets with positive loss).
    """
    if mining not in MINING:
        raise ValueError(f"mining must be one of {MINING}, got {mining!r}")
    if margin <= 0:
        raise ValueError("margin must be > 0")
    dist = 1.0 - emb @ emb.t()
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    pos = same & ~eye
    neg = ~same
    inf = torch.tensor(float("inf"), device=emb.device, dtype=dist.dtype)
    if mining == "batch-hard":
        d_ap = torch.where(pos, dist, -inf).max(1).values
        d_an = torch.where(neg, dist, inf).min(1).values
        valid = pos.any(1) & neg.any(1)
        losses = F.relu(d_ap - d_an + margin)[valid]
    else:
        d_ap = dist.unsqueeze(2)  # [a, p, 1]
        d_an = dist.unsqueeze(1)  # [a, 1, n]
        semi = neg.unsqueeze(1) & (d_an > d_ap)
        closest_semi = torch.where(semi, d_an, inf).min(2).values  # [a, p]
        farthest_neg = torch.where(neg, dist, -inf).max(1).values.unsqueeze(1)  # [a, 1]
        chosen = torch.where(semi.any(2), closest_semi, farthest_neg)
        valid = pos & neg.any(1, keepdim=True)
        losses = F.relu(dist - chosen + margin)[valid]
    if losses.numel() == 0:
        return emb.sum() * 0.0, 0.0
    return losses.mean(), float((losses > 0).float().mean())


def group_by_stem(words: Iterable[str], language: str = "english") -> dict[str, list[str]]:
    """Group distinct words by their Snowball stem (`snowballstemmer`, pinned 3.x rules)."""
    snowball = require("snowballstemmer", "stem labels")
    stemmer = snowball.stemmer(language)
    uniq = list(dict.fromkeys(words))
    groups: dict[str, list[str]] = defaultdict(list)
    for w, s in zip(uniq, stemmer.stemWords(uniq), strict=True):
        groups[s].append(w)
    return dict(groups)


def recall_at_k(sim: np.ndarray | Tensor, groups: Sequence, k: int = 10) -> float:
    """Mean over words with a same-group partner of (same-group words in the top k) /
    min(k, same-group words), the word itself excluded. `sim` is ``[N, N]`` similarity."""
    s = torch.as_tensor(np.asarray(sim) if not isinstance(sim, Tensor) else sim).float().clone()
    g = torch.as_tensor(np.unique(np.asarray(groups, dtype=object), return_inverse=True)[1])
    n = len(g)
    if s.shape != (n, n):
        raise ValueError(f"similarity is {tuple(s.shape)}, expected ({n}, {n})")
    s.fill_diagonal_(-float("inf"))
    top = s.topk(min(k, n - 1), dim=1).indices
    hits = (g[top] == g.unsqueeze(1)).sum(1).float()
    others = torch.bincount(g)[g] - 1
    has = others > 0
    if not bool(has.any()):
        raise ValueError("no word has a same-group partner")
    denom = others.clamp(max=k).float()
    return float((hits[has] / denom[has]).mean())


@dataclass
class StemTrainConfig:
    """How to train a `StemEmbedder`; all sampling draws from `seed`."""

    steps: int = 3000
    p: int = 32
    k: int = 4
    margin: float = 0.3
    mining: str = "semi-hard"
    prefix_negatives: float = 0.5
    prefix_len: int = 3
    lr: float = 3e-3
    optimizer: str = "adam"
    val_fraction: float = 0.1
    eval_every: int = 250
    patience: int = 4
    recall_k: int = 10
    max_seconds: float | None = None
    grad_clip: float | None = 5.0
    seed: int = 0
    device: str = "auto"
    quiet: bool = False


@dataclass
class StemTrainResult:
    model: StemEmbedder
    history: list[dict] = field(default_factory=list)
    best_step: int = 0
    best_recall: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0


class PKSampler:
    """Draw P stems × up to K words; a `prefix_negatives` share of stems come in pairs that
    share their first `prefix_len` characters (hard negatives for each other)."""

    def __init__(self, groups: dict[str, list[str]], p: int, k: int, prefix_negatives: float,
                 prefix_len: int, seed: int):
        self.stems = sorted(s for s, ws in groups.items() if len(ws) >= 2)
        if len(self.stems) < 2:
            raise ValueError("need at least two stems with two or more words each")
        self.groups = groups
        self.p = min(p, len(self.stems))
        self.k = k
        self.prefix_negatives = prefix_negatives
        self.rng = np.random.default_rng(seed)
        by_prefix: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(self.stems):
            by_prefix[s[:prefix_len]].append(i)
        self.prefix_of = [by_prefix[s[:prefix_len]] for s in self.stems]

    def sample(self) -> tuple[list[str], list[int]]:
        chosen: dict[int, None] = {}
        n_pairs = round(self.p * self.prefix_negatives / 2)
        tries = 0
        while len(chosen) < 2 * n_pairs and tries < 4 * self.p:
            tries += 1
            i = int(self.rng.integers(len(self.stems)))
            mates = self.prefix_of[i]
            if len(mates) < 2 or i in chosen:
                continue
            j = mates[int(self.rng.integers(len(mates)))]
            if j != i and j not in chosen:
                chosen[i] = None
                chosen[j] = None
        while len(chosen) < self.p:
            chosen[int(self.rng.integers(len(self.stems)))] = None
        words, labels = [], []
        for label, i in enumerate(chosen):
            ws = self.groups[self.stems[i]]
            take = self.rng.choice(len(ws), size=min(self.k, len(ws)), replace=False)
            words.extend(ws[t] for t in take)
            labels.extend([label] * len(take))
        return words, labels


class StemEmbedder(nn.Module):
    """Words → unit vectors where words with the same stem are near in cosine distance.

    ``model(words)`` gives ``[B, dim]`` unit rows in input order; `embed` gives numpy;
    `index(words)` builds a `WordIndex` for nearest-neighbour queries.
    """

    kind = "stem-embedder"

    def __init__(self, vocab: CharVocab, dim: int = 64, config: EncoderConfig | None = None,
                 **settings):
        super().__init__()
        if config is None:
            settings = {"reverse": True, "dropout": 0.1, **settings}
            config = EncoderConfig(**settings)
        elif settings:
            raise TypeError("pass either config or keyword settings, not both")
        if dim < 1:
            raise ValueError("dim must be >= 1")
        self.dim = int(dim)
        self.encoder = CharEncoder(vocab, config)
        self.proj = nn.Linear(self.encoder.output_size, self.dim)

    @property
    def vocab(self) -> CharVocab:
        return self.encoder.vocab

    @property
    def config(self) -> EncoderConfig:
        return self.encoder.config

    def forward(self, inputs: Inputs) -> Tensor:
        return F.normalize(self.proj(self.encoder(inputs)), dim=1)

    @torch.no_grad()
    def embed(self, words: Sequence[str], batch_size: int = 4096,
              max_tokens: int = 1 << 18) -> np.ndarray:
        """Unit vectors ``[N, dim]`` (float32) for `words`, in order (length-bucketed inside)."""
        was = self.training
        self.eval()
        try:
            ids = self.vocab.encode_batch(list(words))
            out = torch.zeros(len(ids), self.dim)
            for idx in length_buckets([len(x) for x in ids], batch_size, max_tokens):
                out[torch.from_numpy(idx)] = self(pad_ids([ids[i] for i in idx])).float().cpu()
            return out.numpy()
        finally:
            self.train(was)

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Cosine similarity ``[len(a), len(b)]`` (cosine distance is 1 minus this)."""
        return self.embed(a) @ self.embed(b).T

    def index(self, words: Sequence[str]) -> WordIndex:
        return WordIndex(self, words)

    def save(self, path: str | os.PathLike) -> Path:
        config = {"encoder": asdict(self.config), "vocab": self.vocab.to_json(), "dim": self.dim}
        return save_folder(path, self.kind, config, self.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> StemEmbedder:
        config, tensors = load_folder(path, cls.kind)
        model = build_checked(lambda: cls(CharVocab.from_json(config["vocab"]),
                                          int(config["dim"]),
                                          EncoderConfig.from_dict(config["encoder"])),
                              tensors, path)
        return model.to(resolve_device(device)).eval()

    @classmethod
    def fit(cls, words: Sequence[str], stems: Sequence[str] | None = None,
            config: StemTrainConfig | None = None, language: str = "english", dim: int = 64,
            **settings) -> StemTrainResult:
        """Train on `words` grouped by `stems` (default: Snowball stems in `language`)."""
        if stems is None:
            groups = group_by_stem(words, language)
        else:
            if len(stems) != len(words):
                raise ValueError(f"{len(words)} words but {len(stems)} stems")
            groups = defaultdict(list)
            for w, s in dict(zip(words, stems, strict=True)).items():
                groups[str(s)].append(w)
        return train_stem_embedder(dict(groups), config, dim=dim, **settings)


class WordIndex:
    """Unit vectors for a word list with cosine nearest-neighbour queries (exact, blocked)."""

    def __init__(self, model: StemEmbedder, words: Sequence[str]):
        self.model = model
        self.words = list(dict.fromkeys(words))
        self.vectors = torch.from_numpy(model.embed(self.words))
        self._pos = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._pos

    def __getitem__(self, word: str) -> np.ndarray:
        i = self._pos.get(word)
        return self.vectors[i].numpy() if i is not None else self.model.embed([word])[0]

    def most_similar(self, queries: str | Sequence[str], k: int = 10,
                     exclude_self: bool = True, block: int = 4096
                     ) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
        """The `k` nearest words (by cosine) to each query; queries may be unseen words."""
        single = isinstance(queries, str)
        qs = [queries] if single else list(queries)
        if k < 1:
            raise ValueError("k must be >= 1")
        qv = torch.from_numpy(self.model.embed(qs))
        results: list[list[tuple[str, float]]] = []
        for start in range(0, len(qs), block):
            sims = (qv[start:start + block] @ self.vectors.t()).numpy()
            for r, q in enumerate(qs[start:start + block]):
                i = self._pos.get(q) if exclude_self else None
                # ranking, ties and exclusions as everywhere else (vecsmith.neighbours)
                ids, vals = rank(sims[r], k, [] if i is None else [i])
                results.append([(self.words[j], float(v)) for j, v in zip(ids.tolist(), vals)])
        return results[0] if single else results


def train_stem_embedder(groups: dict[str, list[str]], config: StemTrainConfig | None = None,
                        model: StemEmbedder | None = None, dim: int = 64,
                        **settings) -> StemTrainResult:
    """Train a `StemEmbedder` on stem → words `groups`; hold out `val_fraction` of the stems
    and keep the weights with the best held-out recall@k."""
    cfg = config or StemTrainConfig()
    if cfg.mining not in MINING:
        raise ValueError(f"mining must be one of {MINING}, got {cfg.mining!r}")
    if cfg.margin <= 0:
        raise ValueError("margin must be > 0")
    if cfg.p < 2 or cfg.k < 2:
        raise ValueError("p and k must be >= 2")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    multi = sorted(s for s, ws in groups.items() if len(ws) >= 2)
    n_val = round(len(multi) * cfg.val_fraction) if cfg.val_fraction > 0 else 0
    val_stems = set(rng.permutation(multi)[:n_val].tolist()) if n_val >= 2 else set()
    train_groups = {s: ws for s, ws in groups.items() if s not in val_stems}
    if model is None:
        all_words = [w for ws in groups.values() for w in ws]
        model = StemEmbedder(CharVocab.build(all_words), dim=dim, **settings)
    elif settings:
        raise TypeError("model settings given together with a model")
    device = resolve_device(cfg.device)
    model.to(device).train()
    sampler = PKSampler(train_groups, cfg.p, cfg.k, cfg.prefix_negatives, cfg.prefix_len,
                        cfg.seed)
    val_words = [w for s in sorted(val_stems) for w in groups[s]]
    val_labels = [s for s in sorted(val_stems) for _ in groups[s]]
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    result = StemTrainResult(model=model)
    best_state, bad = None, 0
    running, running_active, running_n = 0.0, 0.0, 0
    start = time.perf_counter()
    with progress(cfg.quiet) as bar:
        task = bar.add_task("stems", total=cfg.steps)
        for step in range(1, cfg.steps + 1):
            words, labels = sampler.sample()
            emb = model(words)
            loss, active = triplet_loss(emb, torch.tensor(labels, device=emb.device),
                                        cfg.margin, cfg.mining)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            running += float(loss.detach())
            running_active += active
            running_n += 1
            bar.advance(task)
            elapsed = time.perf_counter() - start
            out_of_time = cfg.max_seconds is not None and elapsed >= cfg.max_seconds
            if step % cfg.eval_every and step != cfg.steps and not out_of_time:
                continue
            entry = {"step": step, "seconds": round(elapsed, 3),
                     "loss": running / running_n, "active": running_active / running_n}
            running, running_active, running_n = 0.0, 0.0, 0
            if val_words:
                vec = model.embed(val_words)
                rec = recall_at_k(vec @ vec.T, val_labels, cfg.recall_k)
                entry["val_recall"] = rec
                bar.update(task, description=f"recall@{cfg.recall_k} {rec:.3f}")
                if result.best_recall is None or rec > result.best_recall + 1e-6:
                    result.best_recall, result.best_step, bad = rec, step, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad += 1
            result.history.append(entry)
            if val_words and bad >= cfg.patience:
                result.stopped_early = True
                break
            if out_of_time:
                break
    result.seconds = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_step = result.history[-1]["step"] if result.history else 0
    model.eval()
    return result


def char_ngram_jaccard(words: Sequence[str], n: int = 3) -> np.ndarray:
    """Jaccard similarity ``[N, N]`` of the character n-gram sets of ``<word>`` (a surface baseline)."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for r, w in enumerate(words):
        s = f"<{w}>"
        grams = {s[i:i + n] for i in range(max(len(s) - n + 1, 1))}
        for g in grams:
            rows.append(r)
            cols.append(vocab.setdefault(g, len(vocab)))
    with warnings.catch_warnings():  # torch flags its sparse kernels as beta
        warnings.simplefilter("ignore", UserWarning)
        m = torch.sparse_coo_tensor(torch.tensor([rows, cols]), torch.ones(len(rows)),
                                    (len(words), max(len(vocab), 1))).coalesce()
        inter = torch.sparse.mm(m, m.t().coalesce()).to_dense()
    sizes = torch.sparse.sum(m, 1).to_dense()
    union = sizes.unsqueeze(1) + sizes.unsqueeze(0) - inter
    return (inter / union.clamp(min=1)).numpy()


__all__ = ["MINING", "PKSampler", "StemEmbedder", "StemTrainConfig", "StemTrainResult",
           "WordIndex", "char_ngram_jaccard", "group_by_stem", "recall_at_k",
           "train_stem_embedder", "triplet_loss"]
