"""Import the linear package's compiled parts on first use, naming the extra when missing.

`import vecsmith.linear` stays free of numba, scikit-learn and safetensors (all in the
``linear`` extra); the first call that needs one imports it here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from vecsmith._deps import MissingDependencyError

EXTRA = "linear"
_OPTIONAL = {"numba", "llvmlite", "sklearn", "scipy", "safetensors"}


def missing(exc: ImportError, purpose: str) -> MissingDependencyError:
    """The error to raise for an optional dependency that failed to import."""
    name = (getattr(exc, "name", None) or "").split(".")[0] or "a dependency"
    return MissingDependencyError(
        f"{name} is needed for {purpose}; install it with: pip install 'vecsmith[{EXTRA}]'")


def load(module: str, purpose: str = "vecsmith.linear") -> ModuleType:
    """Import `module` (absolute name); a missing optional dependency becomes
    MissingDependencyError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if (getattr(exc, "name", None) or "").split(".")[0] in _OPTIONAL:
            raise missing(exc, purpose) from exc
        raise


def parse_kernels() -> ModuleType:
    return load("vecsmith.linear._parse", "vecsmith.linear feature parsing")


def sgd_kernels() -> ModuleType:
    return load("vecsmith.linear.kernels", "vecsmith.linear training and prediction")
