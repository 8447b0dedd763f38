"""Lazy imports of optional dependencies with a message that names the extra to install."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

_EXTRA_FOR = {
    "torch": "torch",
    "numba": "fast",
    "safetensors": "store",
    "sklearn": "cluster",
    "scipy": "cluster",
    "matplotlib": "plot",
    "faiss": "bench",
    "fastapi": "serve",
    "fastapi_offline": "serve",
    "uvicorn": "serve",
    "orjson": "serve",
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
    if "torch" not in sys.modules and not _nvidia_driver():
        return "cpu"  # no GPU driver: importing torch (~1-2 s) could only say "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _nvidia_driver() -> bool:
    """Whether an NVIDIA driver is loaded (without importing torch)."""
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")
