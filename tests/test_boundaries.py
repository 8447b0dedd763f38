"""No package imports another package's `_private` module or name: what two packages share is
public in a module of its own (DESIGN.md). Top-level `vecsmith._x` helpers belong to the root
package and are shared by all."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "vecsmith"


def violations(root: Path) -> list[str]:
    """`file:line: module name` of every import of another package's private part."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        here = rel[0] if len(rel) > 1 else ""  # "" = a top-level module
        for line, module, name in _imports(path):
            parts = module.split(".")
            if parts[0] != "vecsmith" or len(parts) < 2 or parts[1].startswith("_"):
                continue  # not ours, or root-level shared helpers (vecsmith._batch, ...)
            private = any(p.startswith("_") for p in parts[2:]) or name.startswith("_")
            if private and parts[1] != here:
                bad.append(f"{'/'.join(rel)}:{line}: {module} {name}".strip())
    return bad


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.lineno, node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ""


def test_no_package_reaches_into_another_packages_private_parts():
    bad = violations(SRC)
    assert not bad, "private imports across packages:\n" + "\n".join(bad)


def test_the_check_sees_a_private_import(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "convert.py").write_text(
        "from vecsmith.fasttext import _kernels\nfrom vecsmith.fasttext.model import _x\n"
        "import vecsmith.fasttext._kernels\nfrom vecsmith.store import _kernels\n"
        "from vecsmith._batch import pack_words\nfrom vecsmith.subwords import fnv1a\n")
    assert [v.split(":")[1] for v in violations(tmp_path)] == ["1", "2", "3"]
