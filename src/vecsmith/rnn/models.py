"""Character-level recurrent encoder and classifier that batch, pack and unsort inside forward.

``model(["hello", "", "wörld"])`` returns one row per input, in input order: strings are
encoded with the model's own vocabulary, padded, optionally reversed within each length,
embedded (dropout after the embedding), packed with ``enforce_sorted=False`` and run through
the RNN; the final state of the last layer is read per direction from ``h_n``, which PyTorch
already returns in the caller's order. Callers never sort.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .batching import CharBatch, length_buckets, pad_ids, reverse_within_length
from .layernorm_gru import LayerNormGRU
from .serialize import ModelFormatError, build_checked, load_folder, save_folder
from .vocab import PAD, CharVocab

CELLS = ("gru", "lstm", "elman", "layernorm-gru")
POOLING = ("last", "mean", "max")

Inputs = Sequence[str] | Sequence[Sequence[int]] | CharBatch


@dataclass
class EncoderConfig:
    """Shape of a character encoder; stored in the model file's config."""

    cell: str = "gru"
    embedding_dim: int = 32
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    reverse: bool = False
    dropout: float = 0.0
    rnn_dropout: float = 0.0
    pooling: str = "last"

    def validate(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {self.cell!r}")
        if self.pooling not in POOLING:
            raise ValueError(f"pooling must be one of {', '.join(POOLING)}; "
                             f"got {self.pooling!r}")
        for name in ("embedding_dim", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("dropout", "rnn_dropout"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")

    @classmethod
    def from_dict(cls, data: dict) -> EncoderConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ModelFormatError(f"unknown encoder settings: {sorted(unknown)}")
        cfg = cls(**{"pooling": "last", **data})
        cfg.validate()
        return cfg


def _make_rnn(cfg: EncoderConfig) -> nn.Module:
    kw = dict(num_layers=cfg.num_layers, bidirectional=cfg.bidirectional,
              dropout=cfg.rnn_dropout if cfg.num_layers > 1 else 0.0)
    if cfg.cell == "layernorm-gru":
        return LayerNormGRU(cfg.embedding_dim, cfg.hidden_size, **kw)
    cls = {"gru": nn.GRU, "lstm": nn.LSTM, "elman": nn.RNN}[cfg.cell]
    return cls(cfg.embedding_dim, cfg.hidden_size, batch_first=True, **kw)


class CharEncoder(nn.Module):
    """Embedding → dropout → (packed) RNN → ``[B, D*H]`` per input.

    ``pooling="last"`` (default) takes each direction's final state from ``h_n``; ``"mean"`` and
    ``"max"`` pool the last layer's outputs over each sequence's own steps (padding excluded).
    """

    def __init__(self, vocab: CharVocab, config: EncoderConfig | None = None):
        super().__init__()
        self.config = config or EncoderConfig()
        self.config.validate()
        self.vocab = vocab
        cfg = self.config
        self.embedding = nn.Embedding(len(vocab), cfg.embedding_dim, padding_idx=PAD)
        self.embedding_dropout = nn.Dropout(cfg.dropout)
        self.rnn = _make_rnn(cfg)
        self.output_size = cfg.hidden_size * (2 if cfg.bidirectional else 1)

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def batch(self, inputs: Inputs) -> CharBatch:
        """Turn strings or id lists (any lengths, any order) into a padded `CharBatch`."""
        if isinstance(inputs, CharBatch):
            return inputs
        if isinstance(inputs, str):
            raise TypeError("pass a list of strings, not a single string")
        inputs = list(inputs)
        if inputs and isinstance(inputs[0], str):
            return pad_ids(self.vocab.encode_batch(inputs))
        for i, seq in enumerate(inputs):
            if isinstance(seq, str | bytes):
                raise TypeError(f"input {i} is a string in a list of id sequences")
        return pad_ids([list(s) for s in inputs], vocab_size=len(self.vocab))

    def forward(self, inputs: Inputs) -> Tensor:
        batch = self.batch(inputs)
        if len(batch) == 0:
            return self.embedding.weight.new_zeros(0, self.output_size)
        ids = batch.ids.to(self.device)
        lengths = batch.lengths
        if self.config.reverse:
            ids = reverse_within_length(ids, lengths)
        x = self.embedding_dropout(self.embedding(ids))
        # Empty strings are read as one padding step (a zero input vector): packing needs
        # length >= 1, and this gives every empty string the same learned representation.
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, h_n = self.rnn(packed)
        cfg = self.config
        if cfg.pooling != "last":
            padded, lens = pad_packed_sequence(out, batch_first=True)  # input order
            valid = (torch.arange(padded.shape[1]).unsqueeze(0) < lens.unsqueeze(1))
            valid = valid.to(padded.device).unsqueeze(-1)
            if cfg.pooling == "mean":
                return (padded * valid).sum(1) / lens.to(padded.device).unsqueeze(1)
            return padded.masked_fill(~valid, float("-inf")).max(1).values
        if isinstance(h_n, tuple):  # LSTM: (h, c)
            h_n = h_n[0]
        dirs = 2 if cfg.bidirectional else 1
        last = h_n.view(cfg.num_layers, dirs, h_n.shape[1], cfg.hidden_size)[-1]
        return last.transpose(0, 1).reshape(h_n.shape[1], dirs * cfg.hidden_size)


class CharRNNClassifier(nn.Module):
    """Character RNN text classifier: ``model(texts) -> logits [B, n_labels]`` in input order.

    Build it with `CharRNNClassifier.build(texts, labels)` (vocabulary from the texts), train
    with `vecsmith.rnn.train_classifier`, save with `save(path)`, reload with `load(path)`.
    """

    kind = "char-rnn-classifier"

    def __init__(self, vocab: CharVocab, labels: Sequence[str],
                 config: EncoderConfig | None = None, **settings):
        super().__init__()
        if config is None:
            config = EncoderConfig(**settings)
        elif settings:
            raise TypeError("pass either config or keyword settings, not both")
        labels = [str(x) for x in labels]
        if len(labels) < 2:
            raise ValueError("a classifier needs at least two labels")
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be distinct")
        self.labels: list[str] = labels
        self.encoder = CharEncoder(vocab, config)
        self.head = nn.Linear(self.encoder.output_size, len(labels))

    @classmethod
    def build(cls, texts: Sequence[str], labels: Sequence[str], *, min_char_count: int = 1,
              max_chars: int | None = None, **settings) -> CharRNNClassifier:
        """A fresh model whose vocabulary holds the characters of `texts` and whose label set is
        the sorted distinct `labels`."""
        vocab = CharVocab.build(texts, min_count=min_char_count, max_size=max_chars)
        return cls(vocab, sorted(set(map(str, labels))), **settings)

    @property
    def vocab(self) -> CharVocab:
        return self.encoder.vocab

    @property
    def config(self) -> EncoderConfig:
        return self.encoder.config

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    def forward(self, inputs: Inputs) -> Tensor:
        return self.head(self.encoder(inputs))

    @torch.no_grad()
    def predict_proba(self, texts: Inputs, batch_size: int = 1024,
                      max_tokens: int = 1 << 18) -> np.ndarray:
        """Class probabilities ``[N, n_labels]`` (columns follow `labels`), in input order.

        Inputs are grouped by length internally (at most `batch_size` rows and `max_tokens`
        padded characters per forward pass), so one very long text cannot exhaust memory.
        """
        was_training = self.training
        self.eval()
        try:
            batch = self.encoder.batch(texts)
            out = torch.zeros(len(batch), len(self.labels))
            for idx in length_buckets(batch.lengths.numpy(), batch_size, max_tokens):
                index = torch.from_numpy(idx)
                out[index] = F.softmax(self(batch.select(index)), dim=1).float().cpu()
            return out.numpy()
        finally:
            self.train(was_training)

    def predict(self, texts: Inputs, batch_size: int = 1024) -> list[str]:
        """Most probable label per input, in input order."""
        proba = self.predict_proba(texts, batch_size)
        return [self.labels[i] for i in proba.argmax(1)]

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path/weights.safetensors``: weights, with settings, vocabulary and labels inside."""
        config = {"encoder": asdict(self.config), "vocab": self.vocab.to_json(),
                  "labels": self.labels}
        return save_folder(path, self.kind, config, self.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> CharRNNClassifier:
        """Load a model saved by `save`; weights come back bit-identical."""
        from vecsmith._deps import resolve_device

        config, tensors = load_folder(path, cls.kind)
        model = build_checked(lambda: cls(CharVocab.from_json(config["vocab"]), config["labels"],
                                          EncoderConfig.from_dict(config["encoder"])),
                              tensors, path)
        return model.to(resolve_device(device)).eval()

