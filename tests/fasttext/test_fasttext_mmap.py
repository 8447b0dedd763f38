"""Opening a model maps its matrices: RSS grows by the dictionary, not by the matrices."""

from __future__ import annotations

import subprocess
import sys

from vecsmith.datasets import gensim_test_file
from vecsmith.fasttext import load_model
from vecsmith.fasttext.synthetic import write_synthetic_model

PROBE = """
import sys
from vecsmith.fasttext import load_model

def anon_mb():  # private memory; mapped file pages are page cache, counted in RssFile
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

# Load the compiled kernels first (numba's machinery takes tens of MB once per process):
# only the second open is measured.
load_model(sys.argv[2]).get_word_vectors(["abc", "unseenword"])
before = anon_mb()
m = load_model(sys.argv[1])
m.get_word_vectors(["abc", "unseenword"])
print(anon_mb() - before)
"""


def test_open_does_not_read_the_matrices(tmp_path):
    path = tmp_path / "synthetic.bin"
    write_synthetic_model(path, nwords=20_000, bucket=200_000, dim=100)
    size_mb = path.stat().st_size / 1e6
    assert size_mb > 80
    warm = gensim_test_file("lee_fasttext_new.bin")
    grew = float(subprocess.run([sys.executable, "-c", PROBE, str(path), str(warm)],
                                capture_output=True, text=True, check=True
                                ).stdout.strip().splitlines()[-1])
    assert grew < 0.05 * size_mb, f"memory grew {grew:.1f} MB opening a {size_mb:.0f} MB model"
    m = load_model(path)
    inp = m.get_input_matrix()
    assert not inp.flags.writeable and not inp.flags.owndata
