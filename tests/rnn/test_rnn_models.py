"""CharRNNClassifier / CharEncoder / LayerNormGRU: order, reversal, packing, save/load."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vecsmith.rnn import CELLS, CharRNNClassifier, LayerNormGRU, ModelFormatError
from vecsmith.rnn.layernorm_gru import _ln_gru_scan_eager, _scan_fn


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run faster on one thread, and the shared 2-core box stays usable."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

TEXTS = ["hello", "", "wörld", "a", "abcdefghij", "zz", "", "hé"]


def make(cell="gru", **kw):
    torch.manual_seed(0)
    kw = {"hidden_size": 8, "embedding_dim": 5, **kw}
    return CharRNNClassifier.build(["helowrdabcfgijz"], ["x", "y", "z"], cell=cell, **kw).eval()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_batch_equals_per_example_in_input_order(cell, bidirectional, reverse, pooling):
    model = make(cell, bidirectional=bidirectional, reverse=reverse, num_layers=2,
                 pooling=pooling)
    with torch.no_grad():
        batch = model(TEXTS)
        single = torch.cat([model([t]) for t in TEXTS])
        shuffled = model(TEXTS[::-1]).flip(0)
    assert batch.shape == (len(TEXTS), 3)
    torch.testing.assert_close(batch, single, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(batch, shuffled, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_reverse_reads_each_sequence_right_to_left(cell):
    fwd = make(cell)
    rev = make(cell, reverse=True)
    rev.load_state_dict(fwd.state_dict())
    with torch.no_grad():
        a = rev(TEXTS)
        b = fwd([t[::-1] for t in TEXTS])
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    # and it is not the same as reading left to right
    with torch.no_grad():
        assert not torch.allclose(a, fwd(TEXTS))


def test_packed_equals_unpacked_and_per_sequence():
    """The packed final state equals nn.GRU run on each unpadded sequence, and `out[b, len-1]`
    of a padded (unpacked) run, but not the naive `out[:, -1]`."""
    model = make("gru")
    enc = model.encoder
    texts = [t for t in TEXTS if t]
    batch = enc.batch(texts)
    with torch.no_grad():
        packed_h = enc(texts)
        x = enc.embedding(batch.ids)
        out, _ = enc.rnn(x)
        gathered = out[torch.arange(len(texts)), batch.lengths - 1]
        per_seq = torch.cat([enc.rnn(x[b:b + 1, : int(n)])[1][-1]
                             for b, n in enumerate(batch.lengths)])
    torch.testing.assert_close(packed_h, gathered, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(packed_h, per_seq, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(packed_h, out[:, -1])


def test_mean_and_max_pooling_match_manual():
    """Pooling covers exactly each sequence's own steps of the last layer's outputs."""
    texts = [t for t in TEXTS if t]
    last = make("gru", bidirectional=True)
    mean = make("gru", bidirectional=True, pooling="mean")
    mx = make("gru", bidirectional=True, pooling="max")
    mean.load_state_dict(last.state_dict())
    mx.load_state_dict(last.state_dict())
    enc = last.encoder
    with torch.no_grad():
        got_mean, got_max = mean.encoder(texts), mx.encoder(texts)
        for b, t in enumerate(texts):
            x = enc.embedding(enc.batch([t]).ids)
            out, _ = enc.rnn(x)  # one unpadded sequence: plain run, no packing
            torch.testing.assert_close(got_mean[b], out[0].mean(0), atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(got_max[b], out[0].max(0).values, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError):
        make("gru", pooling="sum")


def _reference_ln_gru(x, layer: LayerNormGRU, sfx="_l0"):
    """Textbook per-step LN-GRU for one unpadded sequence x [T, I] -> final h [H]."""
    p = {n: getattr(layer, n + sfx) for n in
         ("weight_ih", "weight_hh", "ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias")}
    h = torch.zeros(layer.hidden_size, dtype=x.dtype)
    H = layer.hidden_size
    for t in range(x.shape[0]):
        gx = F.layer_norm(p["weight_ih"] @ x[t], [3 * H], p["ln_ih_weight"], p["ln_ih_bias"])
        gh = F.layer_norm(p["weight_hh"] @ h, [3 * H], p["ln_hh_weight"], p["ln_hh_bias"])
        r = torch.sigmoid(gx[:H] + gh[:H])
        z = torch.sigmoid(gx[H:2 * H] + gh[H:2 * H])
        n = torch.tanh(gx[2 * H:] + r * gh[2 * H:])
        h = (1 - z) * n + z * h
    return h


@pytest.mark.parametrize("script", [True, False])
def test_layernorm_gru_matches_reference_formula(script):
    torch.manual_seed(1)
    layer = LayerNormGRU(4, 6, bidirectional=True, script=script)
    with torch.no_grad():
        for name, prm in layer.named_parameters():  # non-trivial LN affine parameters
            if name.startswith("ln_"):
                prm.add_(torch.randn_like(prm) * 0.3)
    seqs = [torch.randn(n, 4) for n in (3, 1, 5, 2)]
    packed = nn.utils.rnn.pack_sequence(seqs, enforce_sorted=False)
    with torch.no_grad():
        out, h_n = layer(packed)
        padded, _lengths = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
    for b, x in enumerate(seqs):
        ref_f = _reference_ln_gru(x, layer)
        ref_b = _reference_ln_gru(x.flip(0), layer, "_l0_reverse")
        torch.testing.assert_close(h_n[0, b], ref_f, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(h_n[1, b], ref_b, atol=1e-5, rtol=1e-5)
        # per-step outputs: forward half ends at len-1, backward half's final state is at t=0
        torch.testing.assert_close(padded[b, len(x) - 1, :6], ref_f, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(padded[b, 0, 6:], ref_b, atol=1e-5, rtol=1e-5)


def test_layernorm_gru_gradcheck_and_script_equals_eager():
    torch.manual_seed(2)
    layer = LayerNormGRU(3, 4, num_layers=2).double()
    seqs = [torch.randn(n, 3, dtype=torch.double, requires_grad=True) for n in (3, 2)]
    packed_fn = lambda a, b: layer(nn.utils.rnn.pack_sequence([a, b], enforce_sorted=False))[1]  # noqa: E731
    assert torch.autograd.gradcheck(packed_fn, tuple(seqs), eps=1e-6, atol=1e-5)
    gx = torch.randn(7, 12)
    args = (gx, [3, 2, 2], torch.zeros(3, 4), torch.randn(12, 4), torch.ones(12), torch.zeros(12))
    e_out, e_h = _ln_gru_scan_eager(*args)
    s_out, s_h = _scan_fn(True)(*args)
    torch.testing.assert_close(e_out, s_out)
    torch.testing.assert_close(e_h, s_h)


def test_layernorm_gru_rejects_padded_tensor():
    with pytest.raises(TypeError):
        LayerNormGRU(3, 4)(torch.randn(2, 3, 3))


def test_empty_strings_and_unknown_characters():
    model = make("gru")
    with torch.no_grad():
        only_empty = model(["", ""])
        mixed = model(["abc", ""])
        unk1 = model(["a☃"])
        unk2 = model(["a€"])
    torch.testing.assert_close(only_empty[0], mixed[1], atol=1e-6, rtol=1e-5)
    assert torch.equal(unk1, unk2)  # both unseen characters map to UNK
    assert model.predict([]) == []
    assert model.predict_proba([]).shape == (0, 3)


def test_id_sequences_and_input_errors():
    model = make("gru")
    ids = model.vocab.encode_batch(TEXTS)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), model(TEXTS))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model([[len(model.vocab) + 3]])
    with pytest.raises(TypeError):
        model("hello")
    with pytest.raises(ValueError):
        make("transformer")
    with pytest.raises(ValueError):
        CharRNNClassifier.build(["a"], ["only"])


def test_embedding_dropout_is_active_only_in_training():
    model = make("gru", dropout=0.5)
    with torch.no_grad():
        assert torch.equal(model(TEXTS), model(TEXTS))
        model.train()
        assert not torch.equal(model(TEXTS), model(TEXTS))


def test_predict_proba_rows_sum_to_one():
    model = make("lstm")
    proba = model.predict_proba(TEXTS, batch_size=3)
    with torch.no_grad():
        direct = torch.softmax(model(TEXTS), 1)
    torch.testing.assert_close(torch.from_numpy(proba), direct, atol=1e-6, rtol=1e-5)
    # tiny token budget: every text in its own pass, same answers in the same order
    tiny = model.predict_proba(TEXTS, batch_size=3, max_tokens=1)
    torch.testing.assert_close(torch.from_numpy(tiny), direct, atol=1e-6, rtol=1e-5)
    assert proba.shape == (len(TEXTS), 3)
    torch.testing.assert_close(torch.from_numpy(proba.sum(1)), torch.ones(len(TEXTS)))
    assert set(model.predict(TEXTS)) <= {"x", "y", "z"}


@pytest.mark.parametrize("cell", CELLS)
def test_save_load_bit_identical(tmp_path, cell):
    model = make(cell, bidirectional=True, num_layers=2, reverse=True, dropout=0.1)
    path = model.save(tmp_path / "m")
    back = CharRNNClassifier.load(path)
    assert back.labels == model.labels and back.vocab.chars == model.vocab.chars
    assert back.config == model.config
    for (n1, t1), (n2, t2) in zip(model.state_dict().items(), back.state_dict().items(),
                                  strict=True):
        assert n1 == n2 and torch.equal(t1, t2)
    with torch.no_grad():
        assert torch.equal(model(TEXTS), back(TEXTS))
    cfg = json.loads(file_config(path))
    assert cfg["kind"] == "char-rnn-classifier" and cfg["encoder"]["cell"] == cell
    assert [p.name for p in path.iterdir()] == ["weights.safetensors"]  # one file, no pickle


def file_config(path) -> str:
    from safetensors import safe_open

    with safe_open(str(path / "weights.safetensors"), framework="pt") as f:
        return f.metadata()["vecsmith.config"]


def rewrite_config(path, edit) -> None:
    """Apply `edit(config)` to the config stored inside the model file."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from vecsmith.rnn.serialize import _safetensors_bytes

    w = path / "weights.safetensors"
    with safe_open(str(w), framework="pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["vecsmith.config"])
    edit(cfg)
    meta["vecsmith.config"] = json.dumps(cfg) if not isinstance(cfg, str) else cfg
    w.write_bytes(_safetensors_bytes(load_file(str(w)), meta))


def test_load_rejects_bad_folders(tmp_path):
    with pytest.raises(ModelFormatError, match="not a vecsmith model folder"):
        CharRNNClassifier.load(tmp_path / "missing")
    path = make("gru").save(tmp_path / "m")
    (path / "weights.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelFormatError, match="not a safetensors file"):
        CharRNNClassifier.load(path)
    path = make("gru").save(tmp_path / "m2")
    rewrite_config(path, lambda c: c["encoder"].__setitem__("hidden_size", 9))
    with pytest.raises(ModelFormatError, match=r"has shape \(24,\) torch.float32, the config expects \(27,\)"):
        CharRNNClassifier.load(path)
    rewrite_config(path, lambda c: c.__setitem__("kind", "stem-embedder"))
    with pytest.raises(ModelFormatError, match="stem-embedder"):
        CharRNNClassifier.load(path)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda c: c["encoder"].__setitem__("hidden_size", 16000), "the config expects"),
    (lambda c: c["encoder"].__setitem__("hidden_size", "abc"), "bad config"),
    (lambda c: c["encoder"].__setitem__("hidden_size", 2.5), "bad config"),
    (lambda c: c.__setitem__("encoder", 7), "bad config"),
    (lambda c: c.__setitem__("encoder", "gru"), "'encoder' is not an object"),
    (lambda c: c.__setitem__("vocab", [1, 2]), "bad config"),
    (lambda c: c.__setitem__("labels", None), "bad config"),
    (lambda c: c.pop("vocab"), "bad config"),
    (lambda c: c.__setitem__("format_version", "1"), "format version '1'"),
    (lambda c: c["encoder"].__setitem__("num_layers", 2 ** 32), r"num_layers = 4294967296, "
                                                                r"expected 1\.\.1048576"),
    (lambda c: c["encoder"].__setitem__("num_layers", 40), "the file holds 7 tensors"),
    (lambda c: c["encoder"].__setitem__("bidirectional", []), r"bidirectional = \[\], expected"),
    (lambda c: c["encoder"].__setitem__("dropout", "0.1"), "expected float"),
    (lambda c: c["encoder"].__setitem__("hidden_size", True), "expected int"),
])
def test_bad_configs_are_typed_errors_before_allocating(tmp_path, edit, match):
    path = make("gru").save(tmp_path / "m")
    rewrite_config(path, edit)
    with pytest.raises(ModelFormatError, match=match):
        CharRNNClassifier.load(path)


def test_huge_hidden_size_refused_under_a_memory_limit(tmp_path):
    """hidden_size = 16000 beside small weights used to allocate 3.1 GB before the shape check;
    now the shapes are compared on the meta device first. The child may only grow 1 GB."""
    import subprocess
    import sys
    from pathlib import Path

    path = make("gru").save(tmp_path / "m")
    rewrite_config(path, lambda c: c["encoder"].__setitem__("hidden_size", 16000))
    src = str(Path(__file__).resolve().parents[2] / "src")
    code = f"""
import resource, sys
sys.path.insert(0, {src!r})
from vecsmith.rnn import CharRNNClassifier, ModelFormatError
vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.RLIM_INFINITY))
try:
    CharRNNClassifier.load({str(path)!r})
except ModelFormatError as exc:
    print("TYPED", exc)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert "TYPED" in proc.stdout and "the config expects (48000,)" in proc.stdout, \
        proc.stderr[-2000:]


def test_deeply_nested_config_is_a_typed_error(tmp_path):
    path = make("gru").save(tmp_path / "m")
    rewrite_config(path, lambda c: None)
    deep = '{"kind": ' + "[" * 100000 + "]" * 100000 + "}"
    from safetensors.torch import load_file

    from vecsmith.rnn.serialize import _safetensors_bytes
    w = path / "weights.safetensors"
    w.write_bytes(_safetensors_bytes(load_file(str(w)), {"vecsmith.config": deep}))
    with pytest.raises(ModelFormatError, match="nested too deeply"):
        CharRNNClassifier.load(path)


def test_old_two_file_folders_still_load(tmp_path):
    from safetensors.torch import save_file

    model = make("lstm")
    new = model.save(tmp_path / "new")
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(file_config(new))
    save_file(dict(model.state_dict()), str(old / "weights.safetensors"),
              metadata={"kind": model.kind, "format_version": "1"})
    back = CharRNNClassifier.load(old)
    with torch.no_grad():
        assert torch.equal(back(TEXTS), model(TEXTS))
    (old / "config.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match=r"config\.json: config is not valid JSON"):
        CharRNNClassifier.load(old)
    # saving over an old folder leaves one file, the new model
    model.save(old)
    assert [p.name for p in old.iterdir()] == ["weights.safetensors"]
    assert isinstance(CharRNNClassifier.load(old), CharRNNClassifier)


def test_saved_bytes_reproducible(tmp_path):
    a = make("gru", bidirectional=True).save(tmp_path / "a")
    b = make("gru", bidirectional=True).save(tmp_path / "b")
    assert (a / "weights.safetensors").read_bytes() == (b / "weights.safetensors").read_bytes()


def test_non_finite_weights_warn_and_can_be_errors(tmp_path):
    import warnings

    from vecsmith.rnn import NonFiniteWeightsWarning

    model = make("gru")
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    path = model.save(tmp_path / "nan")
    with pytest.warns(NonFiniteWeightsWarning, match=r"\['head.weight'\] hold NaN"):
        CharRNNClassifier.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWeightsWarning)
        with pytest.raises(NonFiniteWeightsWarning):
            CharRNNClassifier.load(path)


def test_crash_while_saving_leaves_old_or_new_model(tmp_path):
    """A child killed with SIGKILL in the middle of save: the folder loads the old model, and
    the next save removes the dead child's temporary file."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[2] / "src")
    path = make("gru").save(tmp_path / "m")
    before = (path / "weights.safetensors").read_bytes()
    code = f"""
import sys, time
sys.path.insert(0, {src!r})
import os
from vecsmith.rnn import CharRNNClassifier
m = CharRNNClassifier.load({str(path)!r})
def stall(*args):
    print("READY", flush=True); time.sleep(60)
os.replace = stall
m.save({str(path)!r})
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (path / "weights.safetensors").read_bytes() == before
    assert len(list(path.glob(".weights.safetensors.*.tmp"))) == 1
    CharRNNClassifier.load(path)
    make("gru", hidden_size=6).save(path)
    assert [p.name for p in path.iterdir()] == ["weights.safetensors"]
    assert CharRNNClassifier.load(path).config.hidden_size == 6


@pytest.mark.cuda
def test_cuda_forward_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    for cell in CELLS:
        model = make(cell, bidirectional=True)
        with torch.no_grad():
            cpu = model(TEXTS)
            gpu = model.to("cuda")(TEXTS).cpu()
        torch.testing.assert_close(cpu, gpu, atol=1e-4, rtol=1e-4)
