"""The fast path (`vecsmith.cli._fast`): `vecsmith --help` and `vecsmith vectors MODEL WORD...`
answered without typer, rich or pydantic, with the same output and errors as the full CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

from vecsmith import store
from vecsmith.cli import _fast, app
from vecsmith.datasets import gensim_test_file

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("typer", "rich", "pydantic", "numba", "torch", "scipy", "sklearn", "fastapi")
# Runs the CLI as `python -m vecsmith` does, then says which heavy modules got imported.
PROBE = r"""
import json, runpy, sys
sys.argv = ["vecsmith", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("vecsmith", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in HEAVY if m in sys.modules)
sys.stderr.write("PROBE " + json.dumps({"code": code, "heavy": heavy}) + "\n")
""".replace("HEAVY", repr(HEAVY))


def _probe(*args: str, stdin: str = "") -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    res = subprocess.run([sys.executable, "-c", PROBE, *args], input=stdin, text=True,
                         capture_output=True, env=env, timeout=120)
    lines = res.stderr.splitlines()
    facts = json.loads(lines[-1].removeprefix("PROBE "))
    res.stderr = "".join(line + "\n" for line in lines[:-1])
    return res, facts


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("fast")
    lee = gensim_test_file("lee_fasttext_new.bin")
    ngrams = d / "lee.store"
    store.convert_fasttext(lee, ngrams, dtype="float32", quiet=True)
    words = ["apple", "banana", "cherry"]
    plain = d / "plain.store"
    store.convert_vectors(words, np.eye(3, 4, dtype=np.float32), plain, dtype="float32")
    return {"bin": str(lee), "store": str(ngrams), "plain": str(plain), "dir": str(d)}


def test_help_lists_the_apps_verbs_with_their_summaries():
    group = typer.main.get_command(app)
    names = group.list_commands(None)
    expected = [(n, " ".join((group.commands[n].help or "").split("\n\n")[0].split()))
                for n in names]
    assert list(_fast.VERBS) == expected, "update _fast.VERBS to match the verbs' docstrings"


def test_help_is_answered_without_typer():
    res, facts = _probe("--help")
    assert facts == {"code": 0, "heavy": []}, res.stderr
    assert res.stdout.startswith("Usage: vecsmith")
    for name, _ in _fast.VERBS:
        assert f"\n  {name} " in res.stdout
    bare, facts = _probe()
    assert facts["code"] == 0 and bare.stdout == res.stdout


@pytest.mark.parametrize("kind", ["bin", "store", "plain"])
def test_vectors_same_as_the_full_cli_without_typer(sources, kind):
    words = ["apple", "the", "zzqxunseen"]
    res, facts = _probe("vectors", sources[kind], *words)
    assert facts == {"code": 0, "heavy": []}, res.stderr
    full = runner.invoke(app, ["vectors", sources[kind], *words])
    assert full.exit_code == 0, full.output
    assert res.stdout == full.stdout
    lines = res.stdout.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == words
    if kind == "plain":  # no n-grams: unknown words say so, and stderr counts them
        assert lines[1:] == ["the unknown", "zzqxunseen unknown"]
        assert res.stderr == "2 of 3 words have no vector (not in the vocabulary, and " \
                             f"{sources[kind]} has no n-grams): the zzqxunseen\n"
        quiet, _ = _probe("vectors", sources[kind], *words, "-q")
        assert quiet.stdout == res.stdout and quiet.stderr == ""
    else:
        assert "unknown" not in res.stdout and res.stderr == ""
        np.testing.assert_allclose(
            np.array(lines[2].split()[1:], dtype=np.float32),
            store.open(sources["store"])["zzqxunseen"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("args, code, message", [
    (["vectors", "{dir}", "the"], 2, "is a folder, not a vector file"),
    (["vectors", "{dir}/missing.bin", "the"], 2, "no such file"),
])
def test_vectors_errors_are_the_full_clis(sources, args, code, message):
    args = [a.format(**sources) for a in args]
    assert _fast.run(args) is None  # declined: nothing printed, the full CLI answers
    res, facts = _probe(*args)
    assert facts["code"] == code and res.stdout == ""
    assert res.stderr.count("\n") == 1 and message in res.stderr
    assert res.stderr.startswith("error: ")


def test_other_forms_go_the_full_way(sources):
    """Options, stdin and other verbs are the full CLI's (typer imported), same answers."""
    res, facts = _probe("vectors", sources["store"], "the", "--json")
    assert facts["code"] == 0 and "typer" in facts["heavy"]
    assert json.loads(res.stdout)[0]["word"] == "the"
    res, facts = _probe("vectors", sources["store"], stdin="the\n")
    assert facts["code"] == 0 and "typer" in facts["heavy"]
    assert res.stdout.startswith("the ")
    assert _fast.run(["info", sources["store"]]) is None
    assert _fast.run(["vectors", sources["store"]]) is None
