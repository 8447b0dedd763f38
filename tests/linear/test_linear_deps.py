"""`import vecsmith.linear` needs only numpy; the rest says which extra to install."""

from __future__ import annotations

import subprocess
import sys

CHILD = r"""
import sys
for name in ("numba", "sklearn", "safetensors", "scipy"):
    sys.modules[name] = None  # as if not installed: importing them raises ImportError
import vecsmith.linear as L
from vecsmith._deps import MissingDependencyError
assert L.collision_rate(10, 4) > 0 and L.parse_vw_line("1 |a x")[0] == "1"
for call in (lambda: L.Featurizer(), lambda: L.murmur3("x"), lambda: L.OnlineLinearClassifier,
             lambda: __import__("vecsmith.linear.kernels")):
    try:
        call()
    except MissingDependencyError as exc:
        assert "pip install 'vecsmith[linear]'" in str(exc), exc
    else:
        raise AssertionError("expected MissingDependencyError")
print("ok")
"""


def test_linear_imports_without_its_extra_and_names_it_when_needed():
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
