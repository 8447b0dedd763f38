"""Every verb x every way a user gets it wrong: one table, one set of promises.

Each failing row must: exit with its code (2: usage, found before any work; 1: bad data),
print exactly one line on stderr ("error: ..." naming what and where), print no traceback,
leave no output file and no temporary file behind, and fail before any long work (no status
line such as "training on ..." or "reading ..." was printed, and it took well under the time
the work would). Rows run in-process with CliRunner; a few run as real subprocesses.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vecsmith.cli import app
from vecsmith.datasets import gensim_test_file, lid176_path

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good and bad inputs, built once: real models where a model is expected."""
    from vecsmith import store
    from vecsmith.linear import OnlineLinearClassifier
    from vecsmith.rnn import StemEmbedder, StemTrainConfig, TrainConfig, train_classifier

    d = tmp_path_factory.mktemp("table")
    (d / "adir").mkdir()
    (d / "empty.bin").write_bytes(b"")
    (d / "text.txt").write_text("hello world\nthis is not a model\n", encoding="utf-8")
    lee = d / "lee.bin"
    shutil.copy(gensim_test_file("lee_fasttext_new.bin"), lee)
    (d / "truncated.bin").write_bytes(lee.read_bytes()[:3000])
    rng = np.random.default_rng(0)
    words = ["apple", "banana", "cherry", "grape", "lemon", "mango", "melon", "peach", "pear",
             "plum"]
    vecs = rng.normal(size=(len(words), 4)).astype(np.float32)
    (d / "small.vec").write_text(f"{len(words)} 4\n" + "".join(
        f"{w} {' '.join(f'{x:.5f}' for x in row)}\n" for w, row in zip(words, vecs)),
        encoding="utf-8")
    store.convert_vectors(words, vecs, d / "plain.store", dtype="float32")
    vw = [f"{'1' if i % 2 else '-1'} |a {'p' if i % 2 else 'q'}{i % 7}" for i in range(60)]
    (d / "train.vw").write_text("\n".join(vw) + "\n", encoding="utf-8")
    clf = OnlineLinearClassifier()
    clf.progressive_fit([v.split("|", 1)[1] for v in vw], [v.split()[0] for v in vw],
                        classes=["-1", "1"])
    clf.save(d / "m.lin")
    (d / "m.lin.truncated").write_bytes((d / "m.lin").read_bytes()[:200])
    tsv = [f"{'x' if i % 2 else 'y'}\t{'ab' if i % 2 else 'ba'}{i % 5}" for i in range(40)]
    (d / "train.tsv").write_text("\n".join(tsv) + "\n", encoding="utf-8")
    result = train_classifier([t.split("\t")[1] for t in tsv], [t.split("\t")[0] for t in tsv],
                              config=TrainConfig(epochs=1, quiet=True), hidden_size=4,
                              embedding_dim=4)
    result.model.save(d / "rnn")
    shutil.copytree(d / "rnn", d / "rnn-truncated")
    weights = d / "rnn-truncated" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    (d / "plain.store.truncated").write_bytes((d / "plain.store").read_bytes()[:300])
    forms = ["walk", "walks", "walked", "walking", "talk", "talks", "talked", "talking"]
    (d / "words.txt").write_text("\n".join(forms) + "\n", encoding="utf-8")
    StemEmbedder.fit(forms, config=StemTrainConfig(steps=2, p=2, k=2, quiet=True,
                                                   eval_every=1000),
                     hidden_size=4, dim=4).model.save(d / "stems")
    return d


# (id, args, stdin, exit code, message regex). Placeholders: {d} the fixture folder, {out} a
# fresh output path that must not exist afterwards.
MODEL_VERBS = {
    "info": ["info", "{m}"],
    "vectors": ["vectors", "{m}", "word"],
    "ngrams": ["ngrams", "{m}", "word"],
    "nn": ["nn", "{m}", "word"],
    "analogies": ["analogies", "{m}", "a", "b", "c"],
    "predict": ["predict", "{m}", "-"],
    "convert": ["convert", "{m}", "-o", "{out}"],
    "export": ["export", "{m}", "-o", "{out}"],
    "cluster": ["cluster", "{m}", "-o", "{out}"],
    "transfer": ["transfer", "{m}", "-o", "{out}", "--epochs", "1"],
}
BAD_MODELS = [  # (name, path, code, message)
    ("missing", "{d}/missing.bin", 2, r"no such file"),
    ("folder", "{d}/adir", 2, r"is a folder"),
    ("empty", "{d}/empty.bin", 1, r"empty"),
    ("text", "{d}/text.txt", 1, r"line 1|supervised fastText model; .* holds plain"),
    ("truncated", "{d}/truncated.bin", 1, r"truncated|at byte|offset|end of file"),
]
ROWS = [(f"{verb}-{name}", [a.replace("{m}", path) for a in args], "x\n", code, msg)
        for verb, args in MODEL_VERBS.items() for name, path, code, msg in BAD_MODELS
        if not (verb == "transfer" and name == "truncated")]  # a fastText model: covered below
ROWS += [
    ("transfer-fasttext", ["transfer", "{d}/lee.bin", "-o", "{out}"], None, 2, r"n-grams"),
    # models of the other verb groups
    *[(f"linear-{verb}-{name}", ["linear", verb, path, *extra], None, code, msg)
      for verb, extra in (("predict", ["{d}/train.vw"]), ("test", ["{d}/train.vw"]),
                          ("inspect", []))
      for name, path, code, msg in (
          ("missing", "{d}/missing.lin", 2, r"no such file"),
          ("folder", "{d}/adir", 2, r"is a folder"),
          ("empty", "{d}/empty.bin", 1, r"m|M"),
          ("text", "{d}/text.txt", 1, r"."),
          ("truncated", "{d}/m.lin.truncated", 1, r"."))],
    *[(f"rnn-{verb}-{name}", [*verb.split(), path, *extra], "a\n", code, msg)
      for verb, extra in (("rnn predict", []), ("rnn eval", ["{d}/train.tsv"]),
                          ("stems query", ["walk", "--words", "{d}/words.txt"]))
      for name, path, code, msg in (
          ("missing", "{d}/missing", 2, r"no such file"),
          ("file", "{d}/text.txt", 2, r"expected a model folder"),
          ("notmodel", "{d}/adir", 1, r"not a vecsmith model folder"))],
    ("rnn-predict-truncated", ["rnn", "predict", "{d}/rnn-truncated"], "a\n", 1,
     r"unreadable safetensors"),
    ("nn-truncated-store", ["nn", "{d}/plain.store.truncated", "apple"], None, 1, r"."),
    ("vectors-truncated-store", ["vectors", "{d}/plain.store.truncated", "apple"], None, 1,
     r"."),
    ("rnn-eval-wrong-kind", ["rnn", "eval", "{d}/stems", "{d}/train.tsv"], None, 1,
     r"stem-embedder"),
    # training data
    *[(f"{'-'.join(verb[:2])}-data-{name}", [*verb, path, "-o", "{out}"], None, code, msg)
      for verb in (["linear", "train"], ["rnn", "train"], ["stems", "train"])
      for name, path, code, msg in (
          ("missing", "{d}/missing.txt", 2, r"no such file"),
          ("folder", "{d}/adir", 2, r"is a folder"),
          ("empty", "{d}/empty.bin", 1, r"no |none"))],
    ("linear-train-text", ["linear", "train", "{d}/text.txt", "-o", "{out}"], None, 1, r"."),
    ("rnn-train-text", ["rnn", "train", "{d}/text.txt", "-o", "{out}"], None, 1, r"no tab"),
    ("rnn-train-binary", ["rnn", "train", "{d}/lee.bin", "-o", "{out}"], None, 1,
     r"not UTF-8"),
    ("linear-train-one-label", ["linear", "train", "-", "-o", "{out}", "--classes", "a"],
     "a |x y\n", 1, r"two labels"),
    # outputs, checked before any work
    *[(f"{name}-out-{case}", [a.replace("{o}", o) for a in args], None, 2, msg)
      for name, args in (
          ("convert", ["convert", "{d}/lee.bin", "-o", "{o}"]),
          ("convert-positional", ["convert", "{d}/lee.bin", "{o}"]),
          ("export", ["export", "{d}/plain.store", "-o", "{o}"]),
          ("cluster", ["cluster", "{d}/small.vec", "-o", "{o}", "--neighbors", "2"]),
          ("cluster-map", ["cluster", "{d}/small.vec", "--map", "{o}", "--neighbors", "2"]),
          ("transfer", ["transfer", "{d}/small.vec", "-o", "{o}", "--epochs", "1"]),
          ("transfer-positional", ["transfer", "{d}/small.vec", "{o}", "--epochs", "1"]),
          ("linear-train", ["linear", "train", "{d}/train.vw", "-o", "{o}"]),
          ("linear-train-predict-only", ["linear", "train", "{d}/train.vw", "-o", "{out}",
                                         "--predict-only", "{o}"]))
      for case, o, msg in (
          ("missing-folder", "{d}/nope/sub/out.x", r"does not exist.*--parents"),
          ("is-folder", "{d}/adir", r"is a folder"),
          ("unwritable", "/proc/vecsmith-test.out", r"not writable"),
          ("empty-name", "", r"give a file name"))],
    ("convert-out-is-input", ["convert", "{d}/lee.bin", "-o", "{d}/lee.bin"], None, 2,
     r"is the input"),
    ("convert-out-twice", ["convert", "{d}/lee.bin", "{out}", "-o", "{d}/other.store"], None, 2,
     r"once"),
    ("convert-no-out", ["convert", "{d}/lee.bin"], None, 2, r"missing the output"),
    ("export-out-is-input", ["export", "{d}/plain.store", "{d}/plain.store"], None, 2,
     r"is the input"),
    ("transfer-out-is-input", ["transfer", "{d}/small.vec", "-o", "{d}/small.vec"], None, 2,
     r"is the input"),
    ("cluster-out-is-input", ["cluster", "{d}/small.vec", "-o", "{d}/small.vec"], None, 2,
     r"is the input"),
    ("cluster-summary-is-output", ["cluster", "{d}/small.vec", "-o", "{out}", "--summary",
                                   "{out}"], None, 2, r"is the input"),
    ("linear-train-out-is-input", ["linear", "train", "{d}/train.vw", "-o", "{d}/train.vw"],
     None, 2, r"is the input"),
    *[(f"{'-'.join(verb)}-out-{case}", [*verb, data, "-o", o], None, 2, msg)
      for verb, data in ((["rnn", "train"], "{d}/train.tsv"),
                         (["stems", "train"], "{d}/words.txt"))
      for case, o, msg in (
          ("missing-folder", "{d}/nope/sub/model", r"does not exist.*--parents"),
          ("is-file", "{d}/text.txt", r"exists and is not a folder"),
          ("unwritable", "/proc/vecsmith-test-model", r"not writable"))],
    # out-of-range numbers and unknown choices: usage errors
    ("nn-k0", ["nn", "{d}/lee.bin", "word", "-k", "0"], None, 2, r"-k"),
    ("analogies-k0", ["analogies", "{d}/lee.bin", "a", "b", "c", "-k", "0"], None, 2, r"-k"),
    ("analogies-two-words", ["analogies", "{d}/lee.bin", "a", "b"], None, 2, r"threes"),
    ("predict-k0", ["predict", "lid176", "-k", "0"], "hello\n", 2, r"-k"),
    ("predict-threshold", ["predict", "lid176", "-t", "2"], "hello\n", 2, r"threshold"),
    ("predict-unsupervised", ["predict", "{d}/lee.bin"], "hello\n", 1, r"supervised"),
    ("predict-store", ["predict", "{d}/plain.store"], "hello\n", 1, r"supervised"),
    ("convert-dtype", ["convert", "{d}/lee.bin", "-o", "{out}", "--dtype", "float8"], None, 2,
     r"dtype"),
    ("convert-store", ["convert", "{d}/plain.store", "-o", "{out}"], None, 2,
     r"already a store"),
    ("cluster-n-negative", ["cluster", "{d}/small.vec", "-n", "-5"], None, 2, r"max-words"),
    ("cluster-show-negative", ["cluster", "{d}/small.vec", "--show", "-1"], None, 2, r"show"),
    ("cluster-iterations0", ["cluster", "{d}/small.vec", "--iterations", "0"], None, 2,
     r"iterations"),
    ("cluster-method", ["cluster", "{d}/small.vec", "--method", "kmeans"], None, 2, r"method"),
    ("cluster-device", ["cluster", "{d}/small.vec", "--device", "tpu"], None, 2, r"device"),
    ("cluster-threshold", ["cluster", "{d}/small.vec", "-t", "3"], None, 2, r"threshold"),
    ("transfer-epochs0", ["transfer", "{d}/small.vec", "-o", "{out}", "--epochs", "0"], None,
     2, r"epochs"),
    ("transfer-bucket0", ["transfer", "{d}/small.vec", "-o", "{out}", "--bucket", "0"], None,
     2, r"bucket"),
    ("transfer-minn-maxn", ["transfer", "{d}/small.vec", "-o", "{out}", "--minn", "5",
                            "--maxn", "3"], None, 2, r"minn"),
    ("transfer-device", ["transfer", "{d}/small.vec", "-o", "{out}", "--device", "tpu"], None,
     2, r"device"),
    ("transfer-threads0", ["transfer", "{d}/small.vec", "-o", "{out}", "--threads", "0"], None,
     2, r"threads"),
    ("transfer-loss", ["transfer", "{d}/small.vec", "-o", "{out}", "--loss", "l1"], None, 2,
     r"loss"),
    ("linear-passes0", ["linear", "train", "{d}/train.vw", "-o", "{out}", "--passes", "0"],
     None, 2, r"passes"),
    ("linear-bits0", ["linear", "train", "{d}/train.vw", "-o", "{out}", "--bits", "0"], None, 2,
     r"bits"),
    ("linear-loss", ["linear", "train", "{d}/train.vw", "-o", "{out}", "--loss", "squared"],
     None, 2, r"loss"),
    ("linear-stdin-passes", ["linear", "train", "-", "-o", "{out}", "--passes", "2",
                             "--classes", "a,b"], "a |x y\n", 2, r"passes"),
    ("linear-stdin-no-classes", ["linear", "train", "-", "-o", "{out}"], "a |x y\n", 2,
     r"--classes"),
    ("linear-inspect-top-negative", ["linear", "inspect", "{d}/m.lin", "--top", "-3"], None, 2,
     r"top"),
    ("linear-inspect-label", ["linear", "inspect", "{d}/m.lin", "--label", "zz"], None, 2,
     r"not a class"),
    ("rnn-epochs0", ["rnn", "train", "{d}/train.tsv", "-o", "{out}", "--epochs", "0"], None, 2,
     r"epochs"),
    ("rnn-batch0", ["rnn", "train", "{d}/train.tsv", "-o", "{out}", "--batch-size", "0"], None,
     2, r"batch-size"),
    ("rnn-device", ["rnn", "train", "{d}/train.tsv", "-o", "{out}", "--device", "tpu"], None, 2,
     r"device"),
    ("rnn-threads0", ["rnn", "train", "{d}/train.tsv", "-o", "{out}", "--threads", "0"], None,
     2, r"threads"),
    ("rnn-cell", ["rnn", "train", "{d}/train.tsv", "-o", "{out}", "--cell", "nope"], None, 2,
     r"cell"),
    ("rnn-predict-k0", ["rnn", "predict", "{d}/rnn", "-k", "0"], "a\n", 2, r"-k"),
    ("rnn-predict-device", ["rnn", "predict", "{d}/rnn", "--device", "tpu"], "a\n", 2,
     r"device"),
    ("stems-steps0", ["stems", "train", "{d}/words.txt", "-o", "{out}", "--steps", "0"], None,
     2, r"steps"),
    ("stems-wordfreq", ["stems", "train", "--wordfreq", "xx", "-o", "{out}"], None, 2,
     r"wordfreq"),
    ("stems-no-words", ["stems", "train", "-o", "{out}"], None, 2, r"WORDS"),
    ("stems-language", ["stems", "train", "{d}/words.txt", "-o", "{out}", "--language", "xx"],
     None, 2, r"language"),
    ("stems-query-k0", ["stems", "query", "{d}/stems", "walk", "--words", "{d}/words.txt",
                        "-k", "0"], None, 2, r"-k"),
    ("stems-query-no-candidates", ["stems", "query", "{d}/stems", "walk"], None, 2, r"--words"),
    ("demo-only", ["demo", "--only", "foo"], None, 2, r"--only"),
    # empty stdin
    ("vectors-empty-stdin", ["vectors", "{d}/lee.bin"], "", 2, r"no words"),
    ("nn-empty-stdin", ["nn", "{d}/lee.bin"], "  \n", 2, r"no words"),
    ("analogies-empty-stdin", ["analogies", "{d}/lee.bin"], "", 2, r"no words"),
    ("ngrams-empty-stdin", ["ngrams", "{d}/lee.bin"], "", 2, r"no words"),
    ("predict-empty-stdin", ["predict", "lid176"], "", 1, r"stdin is empty"),
    ("linear-train-empty-stdin", ["linear", "train", "-", "-o", "{out}", "--classes", "a,b"],
     "", 1, r"no examples"),
    ("linear-predict-empty-stdin", ["linear", "predict", "{d}/m.lin"], "", 1, r"no lines"),
    ("linear-test-empty-stdin", ["linear", "test", "{d}/m.lin", "-"], "", 1, r"no examples"),
    ("rnn-train-empty-stdin", ["rnn", "train", "-", "-o", "{out}"], "", 1, r"no label"),
    ("rnn-predict-empty-stdin", ["rnn", "predict", "{d}/rnn"], "", 1, r"no lines"),
    ("rnn-eval-empty-stdin", ["rnn", "eval", "{d}/rnn", "-"], "", 1, r"no label"),
    ("stems-query-empty-stdin", ["stems", "query", "{d}/stems", "--words", "{d}/words.txt"],
     "", 2, r"no words"),
    ("unknown-option", ["nn", "{d}/lee.bin", "w", "--bogus"], None, 2, r"bogus"),
]


def _fill(args, d: Path, out: Path):
    return [a.replace("{d}", str(d)).replace("{out}", str(out)) for a in args]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_one_line_before_any_work(files, tmp_path, row):
    _id, args, stdin, code, message = row
    out = tmp_path / "out.result"
    before = sorted(p.name for p in files.iterdir())
    t0 = time.perf_counter()
    result = runner.invoke(app, _fill(args, files, out), input=stdin)
    seconds = time.perf_counter() - t0
    lines = result.stderr.splitlines()
    assert result.exit_code == code, (result.exit_code, result.stderr, result.stdout)
    # usage errors come before anything else; a data error may follow "reading X" (the read
    # is where it is found), but never a line saying that training or fitting started
    before_error = lines[:-1]
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert all(ln.startswith("reading ") for ln in before_error), result.stderr
    assert code == 1 or len(lines) == 1, result.stderr
    assert re.search(message, lines[-1]), lines[-1]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not out.exists() and not os.path.lexists(tmp_path / "nope")
    assert sorted(p.name for p in files.iterdir()) == before  # nothing written next to inputs
    assert _leftovers(tmp_path) == []
    assert seconds < 20, f"{seconds:.1f} s before failing: work ran first?"


def test_unknown_words_are_answers_not_crashes(files):
    """A store without n-grams: `vectors` prints the word as unknown, `nn` and `analogies` say
    why per query, and the known words still get their answers (exit 0)."""
    from vecsmith import store

    v = store.open(files / "plain.store")
    result = runner.invoke(app, ["vectors", str(files / "plain.store"), "apple", "zzz", "pear"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "zzz unknown"
    for line, w in ((lines[0], "apple"), (lines[2], "pear")):
        assert line == w + " " + "".join(f"{float(x):.5g} " for x in v[w])
    assert "1 of 3 words have no vector" in result.stderr
    result = runner.invoke(app, ["nn", str(files / "plain.store"), "zzz", "apple", "-k", "2"])
    assert result.exit_code == 0, result.output
    rows = [ln.split("\t") for ln in result.stdout.splitlines()]
    assert rows[1][0] == "zzz" and "not in the vocabulary" in rows[1][1]
    assert [r[1] for r in rows[2:]] == [w for w, _ in v.most_similar("apple", k=2)]
    result = runner.invoke(app, ["analogies", str(files / "plain.store"), "apple", "zzz", "pear"])
    assert result.exit_code == 0 and "zzz: not in the vocabulary" in result.stdout
    result = runner.invoke(app, ["nn", str(files / "lee.bin"), ""])
    assert result.exit_code == 0 and "no vector" in result.stdout  # not 10 words at cosine 0


def test_json_on_every_verb_that_prints_results(files):
    import json

    d = files
    for args in (["info", "lid176"], ["vectors", f"{d}/lee.bin", "the"],
                 ["ngrams", f"{d}/lee.bin", "the"], ["nn", f"{d}/lee.bin", "the", "-k", "2"],
                 ["analogies", f"{d}/lee.bin", "a", "b", "c", "-k", "1"],
                 ["cluster", f"{d}/small.vec", "--neighbors", "2", "-q"],
                 ["linear", "predict", f"{d}/m.lin", f"{d}/train.vw"],
                 ["linear", "test", f"{d}/m.lin", f"{d}/train.vw"],
                 ["linear", "inspect", f"{d}/m.lin", "-k", "2"],
                 ["rnn", "predict", f"{d}/rnn"], ["rnn", "eval", f"{d}/rnn", f"{d}/train.tsv"],
                 ["stems", "query", f"{d}/stems", "walk", "--words", f"{d}/words.txt"]):
        result = runner.invoke(app, [*args, "--json"], input="ab1\n")
        assert result.exit_code == 0, (args, result.output)
        assert json.loads(result.stdout), args


def test_packaged_short_names_where_a_model_is_accepted(files):
    result = runner.invoke(app, ["predict", "lid176", "-k", "1"], input="bonjour le monde\n")
    assert result.exit_code == 0 and result.stdout.startswith("__label__fr ")
    result = runner.invoke(app, ["nn", "lee", "government", "-k", "1"])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2


def test_parents_creates_missing_folders_only_when_asked(files, tmp_path):
    out = tmp_path / "a" / "b" / "lee.store"
    result = runner.invoke(app, ["convert", str(files / "lee.bin"), "-o", str(out), "-q"])
    assert result.exit_code == 2 and not (tmp_path / "a").exists()
    result = runner.invoke(app, ["convert", str(files / "lee.bin"), "-o", str(out), "-q",
                                 "--parents"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and _leftovers(out.parent) == []


def _atomic_follows_umask() -> bool:
    import inspect

    from vecsmith._atomic import atomic_path

    return "parents" in inspect.signature(atomic_path).parameters


@pytest.mark.skipif(not _atomic_follows_umask(), reason="needs the umask-aware _atomic "
                    "(issue 'untrusted'); mkstemp alone writes 0600")
def test_outputs_get_the_umask_permissions(files, tmp_path):
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["export", str(files / "plain.store"), "-o",
                                     str(tmp_path / "v.vec"), "-q"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v.vec").stat().st_mode & 0o777 == 0o644


# ---- real processes: what CliRunner cannot show ---------------------------------------------

def _run(*args, stdin: str | None = "", timeout: float = 120):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "vecsmith", *args], input=stdin, text=True,
                          capture_output=True, timeout=timeout, env=env)


def test_process_fifo_is_never_opened(files, tmp_path):
    """Sniffing a FIFO would block forever on open(); it must be refused from stat alone."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for args in (["info", str(fifo)], ["convert", str(fifo), "-o", str(tmp_path / "o.store")],
                 ["cluster", str(fifo)], ["linear", "inspect", str(fifo)]):
        result = _run(*args, timeout=60)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "not a regular file" in result.stderr


def test_process_errors_and_debug(files):
    result = _run("nn", str(files / "lee.bin"), "x", "-k", "0")
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    result = _run("info", str(files / "truncated.bin"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    result = _run("--debug", "info", str(files / "truncated.bin"))
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_process_interrupted_write_keeps_the_old_file(files, tmp_path):
    """SIGINT while a store is written: the old file stays as it was, no temporary is left,
    and the message is one line (exit 130)."""
    import signal

    out = tmp_path / "glove.store"
    out.write_bytes(b"old")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "vecsmith", "convert", "glove-6b-50d", "-o",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if any(p.name.startswith(".glove.store") for p in tmp_path.iterdir()):
            break
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.skip("conversion finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert out.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []
    assert stderr.strip().splitlines()[-1].startswith("error: interrupted")


def test_lid176_and_glove_names_resolve():
    from vecsmith.sources import resolve

    assert resolve("lid176") == (lid176_path(), "fasttext")
    assert resolve("glove-6b-50d") == (None, "glove-6b-50d")


def test_verb_modules_import_alone_in_any_order():
    """No import cycle: each verb module imports the app from cli._app, never from the package
    that imports it back."""
    code = ("import importlib\n"
            "for m in ['demo', 'transfer', 'rnn', 'linear', 'cluster', 'store', 'fasttext']:\n"
            "    importlib.import_module('vecsmith.cli.' + m)\n"
            "import vecsmith.cli._app as a, vecsmith.cli as c\n"
            "assert c.app is a.app\n"
            "print(sorted(c.name or c.callback.__name__ for c in a.app.registered_commands))\n")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "'transfer'" in result.stdout and "'demo'" in result.stdout


def test_store_with_ngrams_gives_oov_vectors_like_the_model(files, tmp_path):
    """`vectors` on a store with n-grams: an OOV word gets its fastText vector, not zeros
    and not "unknown"."""
    out = tmp_path / "lee.store"
    assert runner.invoke(app, ["convert", str(files / "lee.bin"), "-o", str(out), "--dtype",
                               "float32", "-q"]).exit_code == 0
    a = runner.invoke(app, ["vectors", str(out), "government", "governmentality"])
    b = runner.invoke(app, ["vectors", str(files / "lee.bin"), "government", "governmentality"])
    assert a.exit_code == 0 and a.stdout == b.stdout
    assert "unknown" not in a.stdout and " 0 0 0 " not in a.stdout


def test_demo_section_reads_consistently():
    """One wording for "in vocabulary" and no load time of a toy model shown as a speed."""
    result = runner.invoke(app, ["demo", "--only", "fasttext"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "no (built from n-grams)" in text and "│ yes " in text
    assert not re.search(r"│ (True|False) ", text)  # table cells say yes/no
    assert not re.search(r"Opened \S+ in \d+ ms", text)
    assert "__label__" not in text  # labels shown as language codes
