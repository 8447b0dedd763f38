"""Package names that load their module on first use (PEP 562), so importing a package, or a
light module inside it, does not import the heavy ones."""

from __future__ import annotations

import importlib
import sys


def lazy_names(package: str, where: dict[str, str]):
    """`__getattr__` and `__dir__` for `package`, whose public name n lives in module
    `package.where[n]`; a name once loaded is kept in the package."""

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted([*vars(sys.modules[package]), *where])

    return __getattr__, __dir__
