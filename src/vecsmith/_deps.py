"""Lazy imports of optional dependencies with a message that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

_EXTRA_FOR = {
    "torch": "torch",
    "numba": "fast",
    "safetensors": "store",
    "sklearn": "cluster",
    "scipy": "cluster",
    "matplotlib": "plot",
    "faiss": "bench",
    "dask": "dask",
    "distributed": "dask",
}


class MissingDependencyError(ImportError):
    """An optional dependency is not installed."""


def require(module: str, purpose: str = "") -> ModuleType:
    """Import `module` or raise an error that says which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = _EXTRA_FOR.get(top, "all")
        why = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"{top} is needed{why}; install it with: pip install 'vecsmith[{extra}]'"
        ) from exc


def resolve_device(device: str = "auto") -> str:
    """Map "auto" to "cuda" when torch sees a GPU, else "cpu"; pass other names through."""
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
