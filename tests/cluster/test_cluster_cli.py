"""`vecsmith cluster` end to end on small files the test writes, and the input dispatch."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from vecsmith.cli import app
from vecsmith.cli.cluster import load_input

runner = CliRunner()


@pytest.fixture()
def vec_file(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((4, 12))
    words, rows = [], []
    for c in range(4):
        for i in range(15):
            words.append(f"w{c}_{i}")
            rows.append(centers[c] + 0.1 * rng.standard_normal(12))
    path = tmp_path / "small.vec"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{len(words)} 12\n")
        for w, v in zip(words, rows, strict=True):
            fh.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
    return path


def test_cluster_writes_tsv_json_and_map(tmp_path, vec_file):
    out, summary, png = tmp_path / "c.tsv", tmp_path / "s.json", tmp_path / "m.png"
    res = runner.invoke(app, ["cluster", str(vec_file), "--neighbors", "5", "-t", "0.5", "--symmetrize",
                              "union", "-w", "top", "-o", str(out), "--summary", str(summary), "--map",
                              str(png), "--quiet", "--show", "4"])
    assert res.exit_code == 0, res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "word\tcluster\tconfidence" and len(lines) == 61
    rows = [ln.split("\t") for ln in lines[1:]]
    by_word = {w: int(c) for w, c, _ in rows}
    for c in range(4):  # each planted group is one cluster, four in all
        assert len({by_word[f"w{c}_{i}"] for i in range(15)}) == 1
    assert len(set(by_word.values())) == 4
    assert all(0.0 <= float(conf) <= 1.0 for _, _, conf in rows)
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["clusters"]["n_clusters"] == 4 and doc["graph"]["symmetric"]
    assert doc["settings"]["k"] == 5 and len(doc["largest"]) == 4
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "w0_0" in res.output or "w1_0" in res.output  # table of the largest clusters


def test_cluster_dbscan_and_npy_input(tmp_path, vec_file):
    from vecsmith.wordvectors import read_word_vectors

    words, X = read_word_vectors(vec_file)
    np.save(tmp_path / "m.npy", X)
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    res = runner.invoke(app, ["cluster", str(tmp_path / "m.npy"), "--words",
                              str(tmp_path / "vocab.txt"), "--method", "dbscan", "--eps", "0.2",
                              "--min-samples", "3", "--neighbors", "6", "--quiet", "-o",
                              str(tmp_path / "d.tsv")])
    assert res.exit_code == 0, res.output
    labels = [ln.split("\t")[1] for ln in
              (tmp_path / "d.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert len(set(labels) - {"-1"}) == 4 and labels.count("-1") <= 6


def test_cluster_errors(tmp_path, vec_file):
    res = runner.invoke(app, ["cluster", str(tmp_path / "missing.vec")])
    assert res.exit_code != 0 and "no such file" in res.output
    res = runner.invoke(app, ["cluster", str(vec_file), "--method", "kmeans"])
    assert res.exit_code != 0 and "--method" in res.output
    bad = tmp_path / "bad.vec"
    bad.write_text("a 1 2\nb 1\n", encoding="utf-8")
    res = runner.invoke(app, ["cluster", str(bad)])
    assert res.exit_code != 0 and "line 2" in res.output
    res = runner.invoke(app, ["cluster", str(vec_file), "-w", "heaviest", "--quiet"])
    assert res.exit_code != 0 and "weighting" in res.output


def test_dispatch_store(tmp_path):
    from vecsmith import store
    from vecsmith.datasets import gensim_test_file

    out = tmp_path / "lee.store"
    store.convert_fasttext(gensim_test_file("lee_fasttext_new.bin"), out, dtype="float32",
                           quiet=True)
    words, X = load_input(str(out), max_words=60)
    v = store.open(out)
    assert words == v.words[:60]
    assert np.array_equal(X, v.get_many(words))
    res = runner.invoke(app, ["cluster", str(out), "-n", "300", "--neighbors", "5", "--quiet",
                              "-o", str(tmp_path / "c.tsv")])
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "c.tsv").read_text().splitlines()) >= 300


def test_dispatch_fasttext_model():
    from vecsmith.datasets import gensim_test_file
    from vecsmith.fasttext import load_model

    path = gensim_test_file("lee_fasttext_new.bin")
    words, X = load_input(str(path), max_words=50)
    model = load_model(path)
    assert words == list(model.words[:50]) and X.shape == (50, model.get_dimension())
    np.testing.assert_allclose(X[7], model.get_word_vector(words[7]), rtol=1e-5, atol=1e-6)


def test_help_teaches():
    res = runner.invoke(app, ["cluster", "--help"])
    assert res.exit_code == 0 and "Examples" in res.output and "glove-6b-50d" in res.output


def test_default_k_and_weighting_shrink_with_the_vocabulary(tmp_path, vec_file):
    """Mutual k = 30 chains a 400k-word vocabulary into one giant cluster; the defaults switch
    to k = 15 / top above 50,000 words, and explicit options always win."""
    from vecsmith.cli.cluster import default_graph_settings

    assert default_graph_settings(20_000) == (30, "log")
    assert default_graph_settings(50_000) == (30, "log")
    assert default_graph_settings(400_000) == (15, "top")
    summary = tmp_path / "s.json"
    res = runner.invoke(app, ["cluster", str(vec_file), "--summary", str(summary), "--quiet",
                              "--show", "0"])
    assert res.exit_code == 0, res.output
    settings = json.loads(summary.read_text(encoding="utf-8"))["settings"]
    assert (settings["k"], settings["weighting"]) == (30, "log")
    res = runner.invoke(app, ["cluster", str(vec_file), "--summary", str(summary), "--quiet",
                              "--show", "0", "--neighbors", "7", "-w", "lin"])
    settings = json.loads(summary.read_text(encoding="utf-8"))["settings"]
    assert res.exit_code == 0 and (settings["k"], settings["weighting"]) == (7, "lin")


def test_map_labels_do_not_overlap(tmp_path):
    """Twelve clusters whose centres nearly coincide: their labels must still end apart."""
    from vecsmith.cluster.plot import save_map

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 8)) * 0.05 + np.eye(8)[0]
    X = np.concatenate([c + rng.normal(size=(30, 8)) * 0.01 for c in centres]).astype(np.float32)
    labels = np.repeat(np.arange(12), 30)
    vocab = [f"word{i}" for i in range(len(X))]
    boxes = save_map(tmp_path / "map.png", vocab, X, labels, n_clusters=12)
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(boxes) == 12
    for i, (_, a) in enumerate(boxes):
        for _, b in boxes[i + 1:]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, (a, b)


def test_k_is_not_a_graph_setting_here(vec_file):
    """`-k` means "how many results" in every verb; the graph's neighbours are --neighbors, and
    an old `-k 20` fails loudly rather than meaning something else."""
    res = runner.invoke(app, ["cluster", str(vec_file), "-k", "20"])
    assert res.exit_code == 2 and "-k" in res.stderr


def _labels(path):
    rows = [ln.split("\t") for ln in path.read_text(encoding="utf-8").splitlines()[1:]]
    return {w: int(c) for w, c, _ in rows}


def test_cluster_on_a_local_dask_cluster_finds_the_same_groups(tmp_path, vec_file):
    """--scheduler local:2 runs the graph and CW on two worker processes: the four planted
    groups come out as in one process (labels may be numbered differently)."""
    import subprocess
    import sys

    single, dist = tmp_path / "one.tsv", tmp_path / "dask.tsv"
    common = ["cluster", str(vec_file), "--neighbors", "5", "-t", "0.5", "--symmetrize", "union",
              "-w", "top", "-q"]
    assert runner.invoke(app, [*common, "-o", str(single)]).exit_code == 0
    proc = subprocess.run([sys.executable, "-m", "vecsmith", *common, "-o", str(dist),
                           "--scheduler", "local:2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = _labels(single), _labels(dist)
    assert a.keys() == b.keys() and len(a) == 60

    def groups(lab):
        return sorted(sorted(w for w in lab if lab[w] == c) for c in set(lab.values()))

    planted = sorted(sorted(f"w{c}_{i}" for i in range(15)) for c in range(4))
    assert groups(a) == groups(b) == planted


@pytest.mark.parametrize(("extra", "message"), [
    (["--scheduler", "local:2", "--method", "dbscan"], "--method dbscan runs in one process"),
    (["--scheduler", "local:0"], r"local:N \(N > 0\)"),
    (["--scheduler", "nowhere"], r"must be local, local:N \(N > 0\) or an address"),
])
def test_cluster_scheduler_usage_errors(vec_file, extra, message):
    res = runner.invoke(app, ["cluster", str(vec_file), *extra])
    assert res.exit_code == 2
    assert re.search(message, res.output) and "read in" not in res.output  # before any work
