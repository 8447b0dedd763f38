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
    with pytest.raises(ValueError, match="pooling must be one of"):
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
    with pytest.raises(TypeError, match="takes a PackedSequence"):
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
    with pytest.raises(TypeError, match="not a single string"):
        model("hello")
    with pytest.raises(ValueError, match="cell must be one of"):
        make("transformer")
    with pytest.raises(ValueError, match="at least two labels"):
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
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["kind"] == "char-rnn-classifier" and cfg["encoder"]["cell"] == cell
    assert not list(path.glob("*.pt")) and not list(path.glob("*.pkl"))


def test_load_rejects_bad_folders(tmp_path):
    with pytest.raises(ModelFormatError, match="not a vecsmith model folder"):
        CharRNNClassifier.load(tmp_path / "missing")
    path = make("gru").save(tmp_path / "m")
    (path / "weights.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelFormatError, match="unreadable safetensors"):
        CharRNNClassifier.load(path)
    path = make("gru").save(tmp_path / "m2")
    cfg = json.loads((path / "config.json").read_text())
    cfg["encoder"]["hidden_size"] = 9
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match="shape"):
        CharRNNClassifier.load(path)
    cfg["kind"] = "stem-embedder"
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match="stem-embedder"):
        CharRNNClassifier.load(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        CharRNNClassifier.load(path)


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
