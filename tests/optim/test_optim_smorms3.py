"""SMORMS3: fidelity to the equations, foreach vs per-tensor, lazy sparse path, state, errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from optim_reference import NumpySMORMS3

from vecsmith.optim import SMORMS3, smorms3


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # tiny tensors: a second intra-op thread only adds contention on a shared 2-core box
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SHAPES = [(7,), (5, 3), (2, 3, 4), ()]


def _params(dtype: torch.dtype, seed: int = 0) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in SHAPES]


def _grad_fn(step: int, p: torch.Tensor, k: int) -> torch.Tensor:
    """Gradient of a noisy quadratic: depends on p (feedback) and on a fixed noise stream."""
    gen = torch.Generator().manual_seed(1000 * step + k)
    noise = torch.randn(p.shape, generator=gen, dtype=torch.float64)
    return (1.5 * p.detach().double() - 0.3 + 0.7 * noise).to(p.dtype)


# the three dense kernels: torch per tensor, torch multi-tensor, numba one-pass (CPU default)
PATHS = {"per-tensor": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize(
    ("lr", "weight_decay", "maximize"),
    [(1e-3, 0.0, False), (0.05, 0.0, False), (0.5, 0.0, True), (0.02, 0.1, False)],
)
def test_matches_float64_reference(path, lr, weight_decay, maximize):
    params = _params(torch.float64)
    refs = [NumpySMORMS3(tuple(p.shape), lr, weight_decay=weight_decay, maximize=maximize)
            for p in params]
    ref_p = [p.detach().numpy().copy() for p in params]
    opt = SMORMS3(params, lr=lr, weight_decay=weight_decay, maximize=maximize, **PATHS[path])
    worst = 0.0
    for step in range(300):
        for k, p in enumerate(params):
            p.grad = _grad_fn(step, p, k)
            # maximize flips the sign of the objective; the reference negates the same gradient
            ref_p[k] = refs[k].step(ref_p[k], p.grad.numpy())
        opt.step()
        worst = max(worst, max(float(np.abs(p.detach().numpy() - r).max())
                               for p, r in zip(params, ref_p, strict=True)))
    assert worst <= 1e-12
    # the clamp min(lr, x) must have taken both branches for the test to mean something
    assert any(bool((s["mem"] > 1.0).any()) for s in opt.state.values())


@pytest.mark.parametrize("other", ["foreach", "fused"])
def test_paths_agree_with_per_tensor_float32(other):
    torch.manual_seed(0)
    a = _params(torch.float32, seed=3)
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    oa = SMORMS3(a, lr=0.01, foreach=False)
    ob = SMORMS3(b, lr=0.01, **PATHS[other])
    for step in range(300):
        for k, (pa, pb) in enumerate(zip(a, b, strict=True)):
            pa.grad = _grad_fn(step, pa, k)
            pb.grad = _grad_fn(step, pb, k)
        oa.step()
        ob.step()
    diff = max(float((pa - pb).detach().abs().max()) for pa, pb in zip(a, b, strict=True))
    assert diff <= 1e-6


def test_cpu_foreach_chunks_equal_per_tensor():
    # lists larger than one CPU chunk (2^16 elements) are processed chunk by chunk
    gen = torch.Generator().manual_seed(0)
    sizes = [70_000, 10, 5_000] * 2 + [64] * 1100
    a = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in sizes]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    oa, ob = SMORMS3(a, lr=0.01, foreach=True), SMORMS3(b, lr=0.01, foreach=False)
    for _ in range(5):
        for pa, pb in zip(a, b, strict=True):
            pa.grad = torch.randn(pa.shape, generator=gen)
            pb.grad = pa.grad.clone()
        oa.step()
        ob.step()
    assert all(torch.allclose(pa, pb, atol=1e-6) for pa, pb in zip(a, b, strict=True))


@pytest.mark.parametrize("path", ["foreach", "fused"])
def test_groups_mixed_dtypes(path):
    p32 = torch.nn.Parameter(torch.randn(6))
    p64 = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
    q32, q64 = (torch.nn.Parameter(p.detach().clone()) for p in (p32, p64))
    oa = SMORMS3([p32, p64], lr=0.1, **PATHS[path])
    ob = SMORMS3([q32, q64], lr=0.1, foreach=False)
    for step in range(20):
        for k, (pa, pb) in enumerate(((p32, q32), (p64, q64))):
            pa.grad = _grad_fn(step, pa, k)
            pb.grad = _grad_fn(step, pb, k)
        oa.step()
        ob.step()
    assert torch.allclose(p32, q32, atol=1e-6) and torch.allclose(p64, q64, atol=1e-12)
    assert oa.state[p64]["mem"].dtype == torch.float64


def test_first_step_is_sqrt2_lr_sign():
    # mem = 1 at start: r = 1/2, g = grad/2, g2 = grad²/2, x = 1/2 -> step sqrt(2)·min(lr, 1/2)·sign
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    p.grad = torch.tensor([4.0, -0.5, 0.0], dtype=torch.float64)
    opt = SMORMS3([p], lr=0.01)
    opt.step()
    want = torch.tensor([1.0 - 0.01 * 2**0.5, -2.0 + 0.01 * 2**0.5, 3.0], dtype=torch.float64)
    assert torch.allclose(p, want, atol=1e-12)
    assert torch.allclose(opt.state[p]["mem"], torch.tensor([1.5, 1.5, 2.0], dtype=torch.float64))


@pytest.mark.parametrize("path", list(PATHS))
def test_maximize_equals_minimising_negative(path):
    a = _params(torch.float64, seed=5)
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    oa = SMORMS3(a, lr=0.03, maximize=True, **PATHS[path])
    ob = SMORMS3(b, lr=0.03, **PATHS[path])
    for step in range(50):
        for k, (pa, pb) in enumerate(zip(a, b, strict=True)):
            pa.grad = -_grad_fn(step, pa, k)
            pb.grad = _grad_fn(step, pb, k)
        oa.step()
        ob.step()
    assert all(torch.equal(pa, pb) for pa, pb in zip(a, b, strict=True))


@pytest.mark.parametrize("path", list(PATHS))
def test_decoupled_weight_decay_shrinks_without_gradient_signal(path):
    p = torch.nn.Parameter(torch.full((3,), 2.0, dtype=torch.float64))
    opt = SMORMS3([p], lr=0.1, weight_decay=0.5, **PATHS[path])
    for _ in range(10):
        p.grad = torch.zeros_like(p)
        opt.step()
    assert torch.allclose(p, torch.full((3,), 2.0 * 0.95**10, dtype=torch.float64), atol=1e-14)


# --- lazy sparse path ------------------------------------------------------------------------

def _embedding_grads(n_steps: int, rows: int, seed: int, ids_per_step: int = 6):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, rows, (ids_per_step,), generator=gen) for _ in range(n_steps)]


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("maximize", [False, True])
def test_lazy_sparse_matches_masked_reference(weight_decay, maximize, fused):
    torch.manual_seed(0)
    emb = torch.nn.Embedding(20, 4, sparse=True, dtype=torch.float64)
    target = torch.randn(20, 4, dtype=torch.float64)
    ref = NumpySMORMS3((20, 4), lr=0.05, weight_decay=weight_decay, maximize=maximize)
    ref_p = emb.weight.detach().numpy().copy()
    opt = SMORMS3(emb.parameters(), lr=0.05, weight_decay=weight_decay, maximize=maximize,
                  fused=fused)
    for ids in _embedding_grads(200, 20, seed=1):
        opt.zero_grad()
        # repeated ids give an uncoalesced gradient, as nn.Embedding produces
        ((emb(ids) - target[ids]) ** 2).sum().backward()
        grad = emb.weight.grad
        assert grad.is_sparse
        rows = np.unique(ids.numpy())
        ref_p = ref.step(ref_p, grad.to_dense().numpy(), rows=rows)
        opt.step()
    assert np.abs(emb.weight.detach().numpy() - ref_p).max() <= 1e-12
    assert np.abs(opt.state[emb.weight]["mem"].numpy() - ref.mem).max() <= 1e-12


@pytest.mark.parametrize("fused", [False, True])
def test_lazy_sparse_with_elementwise_sparse_dims(fused):
    # sparse_dim = 2 (no dense dims): every element addressed individually
    p = torch.nn.Parameter(torch.randn(5, 6, dtype=torch.float64))
    ref = NumpySMORMS3((5, 6), lr=0.1)
    ref_p = p.detach().numpy().copy()
    opt = SMORMS3([p], lr=0.1, fused=fused)
    gen = torch.Generator().manual_seed(2)
    for _ in range(50):
        idx = torch.stack([torch.randint(0, 5, (7,), generator=gen),
                           torch.randint(0, 6, (7,), generator=gen)])
        vals = torch.randn(7, generator=gen, dtype=torch.float64)
        p.grad = torch.sparse_coo_tensor(idx, vals, (5, 6), check_invariants=True)
        dense = p.grad.to_dense().numpy()
        mask = np.zeros((5, 6), dtype=bool)
        mask[idx[0].numpy(), idx[1].numpy()] = True
        ref_p = ref.step(ref_p, dense, rows=mask)
        opt.step()
    assert np.abs(p.detach().numpy() - ref_p).max() <= 1e-12


@pytest.mark.parametrize("fused", [False, True])
def test_lazy_equals_dense_when_every_row_is_touched(fused):
    torch.manual_seed(0)
    a = torch.nn.Embedding(8, 3, sparse=True)
    b = torch.nn.Embedding(8, 3, sparse=False)
    b.load_state_dict(a.state_dict())
    oa = SMORMS3(a.parameters(), lr=0.02, fused=fused)
    ob = SMORMS3(b.parameters(), lr=0.02, fused=fused)
    for step in range(40):
        ids = torch.randperm(8, generator=torch.Generator().manual_seed(step))
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            (m(ids) ** 3).sum().backward()
            o.step()
    assert torch.allclose(a.weight, b.weight, atol=1e-6)


def test_lazy_differs_from_dense_on_untouched_rows():
    # The documented difference: dense SMORMS3 still decays g, g2 and grows mem on rows whose
    # gradient is zero, so a row touched only now and then moves differently.
    torch.manual_seed(0)
    a = torch.nn.Embedding(8, 3, sparse=True, dtype=torch.float64)
    b = torch.nn.Embedding(8, 3, sparse=False, dtype=torch.float64)
    b.load_state_dict(a.state_dict())
    oa, ob = SMORMS3(a.parameters(), lr=0.05), SMORMS3(b.parameters(), lr=0.05)
    for step in range(30):
        ids = torch.tensor([0, 1]) if step % 3 else torch.tensor([0, 5])
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            ((m(ids) - 1.0) ** 2).sum().backward()
            o.step()
    assert torch.equal(a.weight[2:5], b.weight[2:5])  # never touched: identical
    assert not torch.allclose(a.weight[5], b.weight[5], atol=1e-4)
    lazy_mem, dense_mem = oa.state[a.weight]["mem"], ob.state[b.weight]["mem"]
    assert torch.equal(lazy_mem[2:5], torch.ones(3, 3, dtype=torch.float64))  # never touched
    assert not torch.equal(dense_mem[2:5], lazy_mem[2:5])  # dense: mem += 1 on zero gradients
    assert not torch.allclose(lazy_mem[5], dense_mem[5])


def test_empty_sparse_gradient_is_a_no_op():
    p = torch.nn.Parameter(torch.randn(4, 2))
    before = p.detach().clone()
    p.grad = torch.sparse_coo_tensor(torch.zeros((1, 0), dtype=torch.long), torch.zeros(0, 2),
                                     (4, 2), check_invariants=True)
    opt = SMORMS3([p])
    opt.step()
    assert torch.equal(p, before)
    assert torch.equal(opt.state[p]["mem"], torch.ones(4, 2))


def test_functional_routes_sparse_and_dense_in_one_call():
    p_dense = torch.randn(3, 2, dtype=torch.float64)
    p_sparse = torch.randn(3, 2, dtype=torch.float64)
    g = torch.randn(3, 2, dtype=torch.float64)
    sparse_g = g.to_sparse()
    states = [(torch.ones(3, 2, dtype=torch.float64), torch.zeros(3, 2, dtype=torch.float64),
               torch.zeros(3, 2, dtype=torch.float64)) for _ in range(2)]
    a, b = p_dense.clone(), p_dense.clone()
    smorms3([a, b], [g, sparse_g], [s[0] for s in states], [s[1] for s in states],
            [s[2] for s in states], lr=0.1, eps=1e-16)
    assert torch.allclose(a, b, atol=1e-15)  # all-nonzero sparse grad touches every element
    assert not torch.equal(a, p_dense)
    del p_sparse


# --- state, schedulers, API ------------------------------------------------------------------

def _run(model, opt, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        ids = torch.randint(0, 30, (12,), generator=gen)
        x = torch.randn(12, 5, generator=gen)
        opt.zero_grad()
        loss = (model[0](ids) * model[1](x)).sum() ** 2
        loss.backward()
        opt.step()


def _model():
    torch.manual_seed(0)
    return torch.nn.ModuleList([torch.nn.Embedding(30, 4, sparse=True), torch.nn.Linear(5, 4)])


@pytest.mark.parametrize("path", list(PATHS))
def test_state_dict_round_trip_is_exact(path):
    m1 = _model()
    o1 = SMORMS3(m1.parameters(), lr=0.01, **PATHS[path])
    _run(m1, o1, 10, seed=1)
    m2 = copy.deepcopy(m1)
    o2 = SMORMS3(m2.parameters(), lr=0.5, **PATHS[path])  # wrong lr: load must restore it
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))
    assert o2.param_groups[0]["lr"] == 0.01 and o2.param_groups[0]["eps"] == 1e-16
    _run(m1, o1, 15, seed=2)
    _run(m2, o2, 15, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters(), strict=True))
    sd = o1.state_dict()
    assert set(sd["state"][0]) == {"mem", "g", "g2"}


def test_param_groups_have_their_own_settings():
    m = _model()
    opt = SMORMS3([{"params": m[0].parameters(), "lr": 0.1, "eps": 1e-8},
                   {"params": m[1].parameters()}], lr=1e-3)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1e-3]
    assert [g["eps"] for g in opt.param_groups] == [1e-8, 1e-16]
    _run(m, opt, 3, seed=0)


def test_tensor_lr_is_accepted():
    a, b = _model(), _model()
    oa = SMORMS3(a.parameters(), lr=torch.tensor(0.01))
    ob = SMORMS3(b.parameters(), lr=0.01)
    _run(a, oa, 5, seed=3)
    _run(b, ob, 5, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_closure_and_hooks():
    m = _model()
    opt = SMORMS3(m.parameters())
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    x = torch.randn(3, 5)

    def closure():
        opt.zero_grad()
        loss = m[1](x).pow(2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert isinstance(loss, torch.Tensor) and calls == ["pre", "post"]


def test_zero_grad_keeps_sparse_grads_when_not_set_to_none():
    m = _model()
    opt = SMORMS3(m.parameters(), foreach=True)
    _run(m, opt, 1, seed=0)
    (m[0](torch.tensor([1, 2])).sum() + m[1](torch.randn(1, 5)).sum()).backward()
    opt.zero_grad(set_to_none=False)
    assert m[0].weight.grad is not None and float(m[0].weight.grad.to_dense().abs().sum()) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"lr": -1.0}, "learning rate"), ({"eps": 0.0}, "epsilon"),
     ({"weight_decay": -0.1}, "weight_decay")],
)
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SMORMS3([torch.nn.Parameter(torch.zeros(2))], **kwargs)


def test_bad_params():
    with pytest.raises(ValueError, match="dense parameter"):
        SMORMS3([torch.nn.Parameter(torch.zeros(3, 3).to_sparse())])
    with pytest.raises(ValueError, match="Complex"):
        SMORMS3([torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))])
    with pytest.raises(TypeError):
        SMORMS3(torch.zeros(3))
    with pytest.raises(ValueError):
        smorms3([torch.zeros(1)], [], [], [], [], lr=0.1, eps=1e-16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_foreach_default_matches_cpu():
    cpu = _params(torch.float32, seed=4)
    gpu = [torch.nn.Parameter(p.detach().cuda()) for p in cpu]
    oc, og = SMORMS3(cpu, lr=0.01), SMORMS3(gpu, lr=0.01)
    for step in range(100):
        for k, (pc, pg) in enumerate(zip(cpu, gpu, strict=True)):
            pc.grad = _grad_fn(step, pc, k)
            pg.grad = pc.grad.cuda()
        oc.step()
        og.step()
    assert max(float((pc - pg.cpu()).abs().max()) for pc, pg in zip(cpu, gpu, strict=True)) < 1e-5
    emb = torch.nn.Embedding(50, 8, sparse=True).cuda()
    opt = SMORMS3(emb.parameters())
    emb(torch.tensor([1, 2, 2], device="cuda")).sum().backward()
    opt.step()
    assert int((opt.state[emb.weight]["mem"] != 1).any(dim=1).sum()) == 2


# --- large finite gradients ----------------------------------------------------------------

@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("scale", [1e20, 1e30])
def test_large_gradients_give_the_float64_step(path, scale):
    """grad^2 overflows float32 from ~1.8e19: the update used to be inf/inf = NaN on the first
    step. Now the first step equals the float64 reference's (rounded to float32), and every
    later step stays finite, including after the gradients become small again."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0, 0.25]))
    q = torch.nn.Parameter(p.detach().double().clone())
    opt, ref = SMORMS3([p], lr=1e-3, **PATHS[path]), SMORMS3([q], lr=1e-3, foreach=False)
    for step in range(12):
        big = scale if step < 6 else 1e-3
        gr = torch.tensor([big, -big, 0.5, big * (-1) ** step]) * (0.3 if step % 2 else 1.0)
        p.grad, q.grad = gr.clone(), gr.double()
        opt.step()
        ref.step()
        if step == 0:
            assert torch.equal(p.detach(), q.detach().float()), (p, q)
        assert bool(torch.isfinite(p).all()), (step, p)
        for key in ("mem", "g", "g2"):
            assert bool(torch.isfinite(opt.state[p][key]).all()), (step, key)
    assert bool(((p.detach() - q.detach().float()).abs() < 0.05).all())  # bounded drift


def test_large_gradients_in_float64_equal_the_reference_numerically():
    """float64 holds grad^2 = 1e60: the same inputs stay exact there (the reference itself)."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    ref = NumpySMORMS3((2,), 1e-3)
    want = p.detach().numpy().copy()
    opt = SMORMS3([p], lr=1e-3, fused=True)
    for step in range(5):
        g = np.array([1e30, -1e30 * (step + 1)])
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        want = ref.step(want, g)
    np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-12)


@pytest.mark.parametrize("fused", [True, False])
def test_large_sparse_gradients_give_the_float64_step(fused):
    """The lazy sparse path: rows with a gradient of 1e20 get the float64 step, not NaN."""
    emb = torch.nn.Embedding(5, 3, sparse=True)
    ref = torch.nn.Parameter(emb.weight.detach().double().clone())
    opt = SMORMS3(emb.parameters(), lr=1e-3, fused=fused)
    ids = torch.tensor([1, 3])
    for step in range(3):
        opt.zero_grad()
        (emb(ids).sum() * 1e20 * (-1) ** step).backward()
        opt.step()
        assert bool(torch.isfinite(emb.weight).all())
        if step == 0:
            ref.grad = emb.weight.grad.to_dense().double()
            SMORMS3([ref], lr=1e-3, foreach=False).step()
            assert torch.equal(emb.weight.detach()[ids], ref.detach()[ids].float())
            assert torch.equal(emb.weight.detach()[[0, 2, 4]], ref.detach()[[0, 2, 4]].float())
