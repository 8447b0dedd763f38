"""Model files: one ``weights.safetensors`` in the model's folder, its config in the metadata.

One file, replaced by one atomic rename, so a crash while saving leaves the old model or the
new one, never a mix (two files written one after the other could not promise that). The bytes
are reproducible: tensors in name order, the header's keys sorted. Folders written before
(``config.json`` + ``weights.safetensors`` without a config inside) still load.

Loading checks, before any model is built: the config's JSON types, kind and version, and every
tensor's name, dtype and shape against a shell of the model built on torch's "meta" device (no
memory), so a config claiming ``hidden_size = 16000`` beside small weights is refused without
allocating. Weights holding NaN or infinity load with a `NonFiniteWeightsWarning`; make it an
error with ``warnings.simplefilter("error", NonFiniteWeightsWarning)``. Every problem is a
`ModelFormatError` naming the file.
"""

from __future__ import annotations

import json
import os
import struct
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from vecsmith._atomic import atomic_open

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"  # the config of folders written before it moved into the weights
WEIGHTS_NAME = "weights.safetensors"
CONFIG_KEY = "vecsmith.config"  # safetensors metadata key holding the config as JSON
MAX_CONFIG_BYTES = 64 << 20
_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
           torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
           torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


class ModelFormatError(ValueError):
    """A model folder is missing, malformed, or holds a different kind of model."""


class NonFiniteWeightsWarning(UserWarning):
    """A loaded model's weights hold NaN or infinity: it would predict a constant."""


def _safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """A safetensors file with tensors in name order and sorted header keys: same input,
    same bytes (safetensors' own writer orders the metadata differently from run to run)."""
    header: dict = {"__metadata__": dict(sorted(metadata.items()))}
    chunks, start = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [start, start + len(raw)]}
        chunks.append(raw)
        start += len(raw)
    head = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def save_folder(path: str | os.PathLike, kind: str, config: dict,
                state: dict[str, torch.Tensor], *, parents: bool = False) -> Path:
    """Write the model (config with kind and version, and `state`) as ``path/weights.safetensors``.

    The folder is created if missing (its parent only with ``parents=True``); a ``config.json``
    left by the older two-file layout is removed after the new file is in place.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ModelFormatError(f"{folder} exists and is not a folder")
    if not folder.parent.is_dir() and not parents:
        raise FileNotFoundError(f"cannot save the model in {folder}: folder {folder.parent} "
                                "does not exist")
    folder.mkdir(parents=parents, exist_ok=True)
    payload = {"kind": kind, "format_version": FORMAT_VERSION, **config}
    meta = {"format": "vecsmith-model", "kind": kind, "format_version": str(FORMAT_VERSION),
            CONFIG_KEY: json.dumps(payload, ensure_ascii=False, sort_keys=True)}
    data = _safetensors_bytes(state, meta)
    with atomic_open(folder / WEIGHTS_NAME, "wb") as fh:
        fh.write(data)
    stale = folder / CONFIG_NAME
    if stale.is_file():
        stale.unlink()
    return folder


def _parse_config(raw: str | bytes, where: Path) -> dict:
    try:
        config = json.loads(raw)
    except RecursionError:
        raise ModelFormatError(f"{where}: config JSON is nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{where}: config is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelFormatError(f"{where}: config is not a JSON object")
    return config


def _read_weights(w_path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import SafetensorError, safe_open

    from vecsmith._mapping import regular_file

    regular_file(w_path, lambda msg: ModelFormatError(f"{w_path}: {msg}"))
    try:
        with open(w_path, "rb") as fh:
            head = fh.read(8)
            hlen = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        if not 0 < hlen <= min(MAX_CONFIG_BYTES, w_path.stat().st_size - 8):
            raise ModelFormatError(f"{w_path}: not a safetensors file (header length {hlen})")
        with safe_open(str(w_path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError, OverflowError,
            struct.error) as exc:
        if isinstance(exc, ModelFormatError):
            raise
        raise ModelFormatError(f"{w_path}: unreadable safetensors file ({exc})") from None
    return meta, tensors


def load_folder(path: str | os.PathLike, kind: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read and check a model folder written by `save_folder`; return (config, tensors)."""
    folder = Path(path)
    w_path = folder / WEIGHTS_NAME
    if not w_path.is_file():
        raise ModelFormatError(f"{folder} is not a vecsmith model folder (no {WEIGHTS_NAME})")
    meta, tensors = _read_weights(w_path)
    if CONFIG_KEY in meta:
        config = _parse_config(meta[CONFIG_KEY], w_path)
    else:  # the older layout: config.json beside the weights
        cfg_path = folder / CONFIG_NAME
        if not cfg_path.is_file():
            raise ModelFormatError(f"{folder} is not a vecsmith model folder (no config in "
                                   f"{WEIGHTS_NAME} and no {CONFIG_NAME})")
        if cfg_path.stat().st_size > MAX_CONFIG_BYTES:
            raise ModelFormatError(f"{cfg_path}: larger than {MAX_CONFIG_BYTES} bytes")
        config = _parse_config(cfg_path.read_bytes(), cfg_path)
    if config.get("kind") != kind:
        raise ModelFormatError(f"{folder} holds a {config.get('kind')!r} model, not {kind!r}")
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(f"{folder}: format version {config.get('format_version')!r} "
                               f"is not supported (this vecsmith reads {FORMAT_VERSION})")
    _check_types(config, len(tensors), w_path)
    bad = [name for name, t in tensors.items()
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        warnings.warn(f"{w_path}: weights {bad[:5]} hold NaN or infinity; the model's outputs "
                      "will be meaningless", NonFiniteWeightsWarning, stacklevel=3)
    return config, tensors


# The encoder settings' JSON types and bounds (EncoderConfig): checked before a model is built,
# since building trusts them (num_layers = 2^32 would loop for hours even on the meta device,
# bidirectional = [] builds and then fails inside torch at the first forward).
MAX_WIDTH = 1 << 20
_ENCODER = {"cell": str, "embedding_dim": int, "hidden_size": int, "num_layers": int,
            "bidirectional": bool, "reverse": bool, "dropout": float, "rnn_dropout": float,
            "pooling": str}


def _check_types(config: dict, n_tensors: int, where: Path) -> None:
    def bad(msg: str) -> ModelFormatError:
        return ModelFormatError(f"{where}: bad config ({msg})")

    enc = config.get("encoder")
    if not isinstance(enc, dict):
        raise bad("'encoder' is not an object")
    for key, value in enc.items():
        want = _ENCODER.get(key)
        if want is None:
            continue  # unknown keys: EncoderConfig names them
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              if want is float else type(value) is want)
        if not ok:
            raise bad(f"encoder.{key} = {value!r:.80}, expected {want.__name__}")
        if want is int and not 1 <= value <= MAX_WIDTH:
            raise bad(f"encoder.{key} = {value}, expected 1..{MAX_WIDTH}")
    if enc.get("num_layers", 1) > n_tensors:
        raise bad(f"encoder.num_layers = {enc['num_layers']} but the file holds {n_tensors} "
                  "tensors")
    dim = config.get("dim", 1)
    if type(dim) is not int or not 1 <= dim <= MAX_WIDTH:
        raise bad(f"dim = {dim!r:.80}, expected an integer in 1..{MAX_WIDTH}")
    labels = config.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise bad("'labels' is not a list of strings")
    if not isinstance(config.get("vocab"), dict):
        raise bad("'vocab' is not an object")


def build_checked(factory: Callable[[], torch.nn.Module], tensors: dict[str, torch.Tensor],
                  path: str | os.PathLike) -> torch.nn.Module:
    """Build the model the config describes and load `tensors` into it, checking every
    tensor's name, dtype and shape against a shell on the "meta" device first: a config that
    disagrees with its weights is refused before anything is allocated."""
    try:
        with torch.device("meta"):
            shell = factory()
        expected = shell.state_dict()
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RuntimeError,
            RecursionError) as exc:
        raise ModelFormatError(f"{path}: bad config ({type(exc).__name__}: {exc})") from None
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ModelFormatError(f"{path}: weights do not match the config "
                               f"(missing {missing[:5]}, unexpected {extra[:5]})")
    for name, t in tensors.items():
        if t.shape != expected[name].shape or t.dtype != expected[name].dtype:
            raise ModelFormatError(f"{path}: tensor {name} has shape {tuple(t.shape)} "
                                   f"{t.dtype}, the config expects "
                                   f"{tuple(expected[name].shape)} {expected[name].dtype}")
    model = factory()
    model.load_state_dict(tensors, strict=True)
    return model
