"""Recurrent text models: a character-RNN classifier that batches and packs inside `forward`,
a layer-normalised GRU, and a triplet model that maps words with the same stem close together.

Requires torch (``pip install 'vecsmith[torch]'``) and safetensors for saving. Without torch,
``import vecsmith.rnn`` (or any of its modules) raises `MissingDependencyError` naming that
extra; with it, torch is imported when a name below is first used, not at import.
"""

from __future__ import annotations

import importlib.util

from vecsmith._lazy import lazy_names

if importlib.util.find_spec("torch") is None:  # say which extra, not ModuleNotFoundError
    from vecsmith._deps import require

    require("torch", "vecsmith.rnn (character RNNs and stem embeddings)")

# public name -> the module that defines it
_WHERE = {
    "CharBatch": "batching",
    "length_buckets": "batching",
    "packed_reverse_index": "batching",
    "pad_ids": "batching",
    "reverse_within_length": "batching",
    "LayerNormGRU": "layernorm_gru",
    "ClassificationReport": "metrics",
    "classification_report": "metrics",
    "CELLS": "models",
    "CharEncoder": "models",
    "CharRNNClassifier": "models",
    "EncoderConfig": "models",
    "ModelFormatError": "serialize",
    "NonFiniteWeightsWarning": "serialize",
    "TrainConfig": "train",
    "TrainResult": "train",
    "evaluate": "train",
    "make_optimizer": "train",
    "train_classifier": "train",
    "StemEmbedder": "triplet",
    "StemTrainConfig": "triplet",
    "WordIndex": "triplet",
    "triplet_loss": "triplet",
    "PAD": "vocab",
    "UNK": "vocab",
    "CharVocab": "vocab",
}

__all__ = sorted(_WHERE, key=lambda n: (not n.isupper(), n[0].islower(), n))


__getattr__, __dir__ = lazy_names(__name__, _WHERE)
