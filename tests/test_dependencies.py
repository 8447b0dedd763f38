"""Honest dependencies: with only the base install (`pip install vecsmith`), every public
module imports, or fails with `MissingDependencyError` naming the extra to install.

Builds a fresh virtual environment (no pip inside it; the running pip installs into it, from
its cache or the package index) with the base dependencies read from pyproject.toml, puts
this checkout's `src` on its path, and imports every public module in a child process.
About 20-40 s, most of it pip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# Public modules that still import an optional dependency at import time, in code owned
# elsewhere this round (reported to the lead); a module that starts to import cleanly is fine.
KNOWN = {
    "vecsmith.cluster.estimator": "sklearn",
}

CHILD = r"""
import importlib, json, sys
from pathlib import Path
src = Path(sys.argv[1]) / "vecsmith"
out = {}
for path in sorted(src.rglob("*.py")):
    parts = path.relative_to(src.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if any(p.startswith("_") for p in parts[1:]):
        continue
    name = ".".join(parts)
    try:
        importlib.import_module(name)
        out[name] = "ok"
    except Exception as exc:
        out[name] = f"{type(exc).__name__}: {exc}"
# The base install answers from a model and a store without numba: single words, a batch
# (the numpy path, same bits) and a neighbour query.
from vecsmith.fasttext import load_model
from vecsmith import store
m = load_model(sys.argv[2])
v = store.open(sys.argv[3])
assert m["the"].shape == v["unseenwordz"].shape == (m.dim,)
try:
    words = ["the", "unseenwordz"] * 50
    assert (m.get_word_vectors(words) == v.get_many(words)).all()
    assert m.most_similar("the", k=3) and v.most_similar("the", k=3)
    out["batch"] = "ok"
except Exception as exc:
    out["batch"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def _base_dependencies() -> list[str]:
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["dependencies"]


def test_base_install_imports_every_public_module(tmp_path):
    from vecsmith import store
    from vecsmith.datasets import gensim_test_file

    env_dir = tmp_path / "base"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(py),
           "install", "-q", *_base_dependencies()]
    if (ROOT / "constraints.txt").exists():
        cmd[7:7] = ["-c", str(ROOT / "constraints.txt")]
    subprocess.run(cmd, check=True, timeout=240)
    bin_path = gensim_test_file("lee_fasttext_new.bin")
    store_path = tmp_path / "lee.store"
    store.convert_fasttext(bin_path, store_path, dtype="float32", quiet=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(SRC)
    res = subprocess.run([str(py), "-c", CHILD, str(SRC), str(bin_path), str(store_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert "vecsmith.store" in out and "vecsmith.fasttext" in out
    unclear = {name: why for name, why in out.items()
               if why != "ok" and not why.startswith("MissingDependencyError")
               and not any(name == k or name.startswith(k + ".") for k in KNOWN)}
    assert not unclear, f"imports that fail without naming the extra: {unclear}"
    for name, why in out.items():
        if why.startswith("MissingDependencyError"):
            assert "pip install 'vecsmith[" in why, (name, why)
    for name in ("vecsmith", "vecsmith.fasttext", "vecsmith.store", "vecsmith.subwords",
                 "vecsmith.neighbours", "vecsmith.protocol", "vecsmith.transfer"):
        assert out[name] == "ok", (name, out[name])
    assert out["batch"] == "ok"


def test_missing_extras_are_named_without_a_fresh_venv():
    """The same promise checked in seconds: with torch, orjson or fastapi hidden (as if not
    installed), `vecsmith.rnn` (and its modules) and `vecsmith.serve.app` name their extra,
    while `vecsmith.serve` and the command line still import."""
    code = (
        "import sys\n"
        "hide, name = sys.argv[1], sys.argv[2]\n"
        "sys.modules[hide] = None  # find_spec says None, import raises: as if not installed\n"
        "try:\n"
        "    __import__(name)\n"
        "    print('ok')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cases = [("torch", "vecsmith.rnn", "[torch]"), ("torch", "vecsmith.rnn.train", "[torch]"),
             ("orjson", "vecsmith.serve.app", "[serve]"),
             ("fastapi", "vecsmith.serve.app", "[serve]"),
             ("fastapi", "vecsmith.serve", None), ("torch", "vecsmith.cli.rnn", None)]
    for hide, name, extra in cases:
        res = subprocess.run([sys.executable, "-c", code, hide, name], capture_output=True,
                             text=True, env=env, timeout=120)
        out = res.stdout.strip()
        if extra is None:
            assert out == "ok", (hide, name, out, res.stderr)
        else:
            assert out.startswith("MissingDependencyError"), (hide, name, out)
            assert f"pip install 'vecsmith{extra}'" in out, (hide, name, out)
