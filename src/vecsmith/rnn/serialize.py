"""Model files: a folder with ``config.json`` and ``weights.safetensors``; no pickle anywhere.

Both files are written atomically. Loading validates the config's kind and format version and
loads the weights strictly, so a truncated or mismatched file fails with `ModelFormatError`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from vecsmith._atomic import atomic_open, atomic_path

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"


class ModelFormatError(ValueError):
    """A model folder is missing, malformed, or holds a different kind of model."""


def save_folder(path: str | os.PathLike, kind: str, config: dict,
                state: dict[str, torch.Tensor]) -> Path:
    """Write `config` (plus kind and version) and `state` under folder `path`."""
    from safetensors.torch import save_file

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ModelFormatError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    with atomic_path(folder / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"kind": kind, "format_version": str(FORMAT_VERSION)})
    payload = {"kind": kind, "format_version": FORMAT_VERSION, **config}
    with atomic_open(folder / CONFIG_NAME, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, ensure_ascii=False, indent=2, sort_keys=True)
        fh.write("\n")
    return folder


def load_folder(path: str | os.PathLike, kind: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read and check a model folder written by `save_folder`; return (config, tensors)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(path)
    cfg_path, w_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not cfg_path.is_file() or not w_path.is_file():
        raise ModelFormatError(f"{folder} is not a vecsmith model folder "
                               f"(expected {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{cfg_path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelFormatError(f"{cfg_path}: expected a JSON object")
    if config.get("kind") != kind:
        raise ModelFormatError(f"{folder} holds a {config.get('kind')!r} model, not {kind!r}")
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(f"{folder}: format version {config.get('format_version')!r} "
                               f"is not supported (this vecsmith reads {FORMAT_VERSION})")
    try:
        tensors = load_file(str(w_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFormatError(f"{w_path}: unreadable safetensors file ({exc})") from exc
    return config, tensors
