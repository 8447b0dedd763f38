"""Guards at conversion: words a store cannot hold, and never writing over the source."""

from __future__ import annotations

import numpy as np
import pytest

from vecsmith.store.convert import convert_vectors


def test_convert_vectors_refuses_nul_words(tmp_path):
    with pytest.raises(ValueError, match=r"word 1 \('b\\x00c'\) contains a NUL byte"):
        convert_vectors(["a", "b\0c", "d"], np.ones((3, 4), np.float32), tmp_path / "s.store")
    assert not list(tmp_path.iterdir())

def test_convert_never_writes_over_its_source(tmp_path):
    src = tmp_path / "v.npy"
    np.save(src, np.ones((2, 3), np.float32))
    before = src.read_bytes()
    with pytest.raises(ValueError, match="refusing to overwrite the input"):
        convert_vectors(["a", "b"], np.ones((2, 3), np.float32), src, source=str(src))
    assert src.read_bytes() == before
