"""Recurrent text models: a character-RNN classifier that batches and packs inside `forward`,
a layer-normalised GRU, and a triplet model that maps words with the same stem close together.

Requires torch (``pip install 'vecsmith[torch]'``) and safetensors for saving.
"""

from __future__ import annotations

from .batching import (
    CharBatch,
    length_buckets,
    packed_reverse_index,
    pad_ids,
    reverse_within_length,
)
from .layernorm_gru import LayerNormGRU
from .metrics import ClassificationReport, classification_report
from .models import CELLS, CharEncoder, CharRNNClassifier, EncoderConfig
from .serialize import ModelFormatError, NonFiniteWeightsWarning
from .train import TrainConfig, TrainResult, evaluate, make_optimizer, train_classifier
from .triplet import StemEmbedder, StemTrainConfig, WordIndex, triplet_loss
from .vocab import PAD, UNK, CharVocab

__all__ = [
    "CELLS",
    "PAD",
    "UNK",
    "CharBatch",
    "CharEncoder",
    "CharRNNClassifier",
    "CharVocab",
    "ClassificationReport",
    "EncoderConfig",
    "LayerNormGRU",
    "ModelFormatError",
    "NonFiniteWeightsWarning",
    "StemEmbedder",
    "StemTrainConfig",
    "TrainConfig",
    "TrainResult",
    "WordIndex",
    "classification_report",
    "evaluate",
    "length_buckets",
    "make_optimizer",
    "packed_reverse_index",
    "pad_ids",
    "reverse_within_length",
    "train_classifier",
    "triplet_loss",
]
