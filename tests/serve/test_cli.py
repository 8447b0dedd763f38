"""`vecsmith serve` refuses bad arguments before it starts a server, saying why."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from vecsmith.cli import app
from vecsmith.serve.models import model_name


@pytest.mark.parametrize("spec, want", [
    ("/m/cc.en.300.bin", ("cc.en.300", "/m/cc.en.300.bin")),
    ("/m/lid.176.ftz", ("lid.176", "/m/lid.176.ftz")),
    ("lid=/m/lid.176.ftz", ("lid", "/m/lid.176.ftz")),
    ("x=/m/a=b.store", ("x", "/m/a=b.store")),
])
def test_model_names(spec, want):
    assert model_name(spec) == want


@pytest.mark.parametrize("spec, match", [("=/m/a.bin", "give PATH or NAME=PATH"),
                                         ("a b=/m/a.bin", "use letters")])
def test_bad_model_names(spec, match):
    with pytest.raises(ValueError, match=match):
        model_name(spec)


def test_refusals(models_dir, tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"garbage")
    store = str(models_dir / "lee32.store")
    for args, match in [
        ([str(bad)], "cannot serve bad=.*not a fastText model"),
        ([str(tmp_path / "none.bin")], "no such model file"),
        ([str(tmp_path)], "is a folder, expected a model file"),
        ([f"a={store}", f"a={store}"], r"two models are named \['a'\]"),
    ]:
        res = runner.invoke(app, ["serve", *args, "--port", "1"])
        assert res.exit_code == 1, res.output
        assert re.search(match, " ".join(res.output.split())), res.output
