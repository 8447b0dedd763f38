"""The fused (numba one-pass) SMORMS3 path: when it runs, that it equals the equations and the
torch paths, what falls back to torch, threads, autograd bookkeeping, and that it vectorises."""

from __future__ import annotations

import platform
import re
import sys

import numpy as np
import pytest
import torch
from optim_reference import NumpySMORMS3

from vecsmith._deps import MissingDependencyError
from vecsmith.optim import SMORMS3, DenseSparseOptimizer, smorms3

numba = pytest.importorskip("numba")
from vecsmith.optim import _fused  # noqa: E402

smorms3_module = sys.modules["vecsmith.optim.smorms3"]  # the package attribute is the function


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def calls(monkeypatch):
    """Count the tensors each fused kernel call updates: {"dense": [...], "sparse": [...]}."""
    seen: dict[str, list[int]] = {"dense": [], "sparse": []}
    dense, sparse = _fused.dense_step, _fused.sparse_step

    def dense_spy(addresses, sizes, *args, **kwargs):
        seen["dense"].append(len(sizes))
        return dense(addresses, sizes, *args, **kwargs)

    def sparse_spy(*args, **kwargs):
        seen["sparse"].append(1)
        return sparse(*args, **kwargs)

    monkeypatch.setattr(_fused, "dense_step", dense_spy)
    monkeypatch.setattr(_fused, "sparse_step", sparse_spy)
    return seen


def _params(dtype, shapes=((7,), (5, 3), (2, 3, 4), ()), seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]


def _grad(step: int, p: torch.Tensor, k: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1000 * step + k)
    noise = torch.randn(p.shape, generator=gen, dtype=torch.float64)
    return (1.5 * p.detach().double() - 0.3 + 0.7 * noise).to(p.dtype)


def _clone(params):
    return [torch.nn.Parameter(p.detach().clone()) for p in params]


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach() - b.detach()).abs().max())


def _train(opts_params, steps, grad_fn=_grad):
    for step in range(steps):
        for opt, params in opts_params:
            for k, p in enumerate(params):
                p.grad = grad_fn(step, p, k)
            opt.step()


# --- which path runs --------------------------------------------------------------------------

def test_default_on_cpu_is_fused_when_numba_is_installed(calls):
    params = _params(torch.float32)
    _train([(SMORMS3(params), params)], 3)
    assert calls["dense"] == [4, 4, 4]  # one call per step for all four tensors


@pytest.mark.parametrize("foreach", [False, True])
def test_explicit_foreach_keeps_the_torch_path(calls, foreach):
    params = _params(torch.float32)
    _train([(SMORMS3(params, foreach=foreach), params)], 2)
    assert calls["dense"] == []


def test_fused_false_and_missing_numba_use_torch(calls, monkeypatch):
    params = _params(torch.float32)
    _train([(SMORMS3(params, fused=False), params)], 2)
    monkeypatch.setattr(smorms3_module, "_numba_installed", lambda: False)
    _train([(SMORMS3(params), params)], 2)
    assert calls["dense"] == []


def test_fused_true_without_numba_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"vecsmith\[fast\]"):
        SMORMS3(_params(torch.float32), fused=True)


def test_fused_true_checks_its_inputs():
    with pytest.raises(ValueError, match="both be True"):
        SMORMS3(_params(torch.float32), fused=True, foreach=True)
    with pytest.raises(ValueError, match="float32/float64"):
        SMORMS3(_params(torch.float16), fused=True)
    opt = SMORMS3(_params(torch.float32), fused=True)
    with pytest.raises(ValueError, match="float32/float64"):
        opt.add_param_group({"params": _params(torch.bfloat16)})
    with pytest.raises(ValueError, match="both be True"):
        smorms3([], [], [], [], [], foreach=True, fused=True, lr=0.1, eps=1e-16)


# --- fidelity ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("lr", "weight_decay", "maximize"),
    [(1e-3, 0.0, False), (0.05, 0.0, False), (0.5, 0.0, True), (0.02, 0.1, True)],
)
def test_fused_matches_float64_reference(calls, lr, weight_decay, maximize):
    params = _params(torch.float64)
    refs = [NumpySMORMS3(tuple(p.shape), lr, weight_decay=weight_decay, maximize=maximize)
            for p in params]
    ref_p = [p.detach().numpy().copy() for p in params]
    opt = SMORMS3(params, lr=lr, weight_decay=weight_decay, maximize=maximize, fused=True)
    worst = 0.0
    for step in range(300):
        for k, p in enumerate(params):
            p.grad = _grad(step, p, k)
            ref_p[k] = refs[k].step(ref_p[k], p.grad.numpy())
        opt.step()
        worst = max(worst, max(float(np.abs(p.detach().numpy() - r).max())
                               for p, r in zip(params, ref_p, strict=True)))
    assert worst <= 1e-12
    for p, ref in zip(params, refs, strict=True):  # state may grow large: relative error
        for key, want in (("mem", ref.mem), ("g", ref.g), ("g2", ref.g2)):
            got = opt.state[p][key].numpy()
            assert np.abs(got - want).max() <= 1e-12 * max(1.0, np.abs(want).max())
    assert len(calls["dense"]) == 300
    assert any(bool((s["mem"] > 1.0).any()) for s in opt.state.values())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_fused_agrees_with_both_torch_paths(calls, dtype, weight_decay):
    a = _params(dtype, seed=3)
    b, c = _clone(a), _clone(a)
    kw = {"lr": 0.01, "weight_decay": weight_decay}
    oa = SMORMS3(a, fused=True, **kw)
    ob, oc = SMORMS3(b, foreach=False, **kw), SMORMS3(c, foreach=True, **kw)
    _train([(oa, a), (ob, b), (oc, c)], 300)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    for pa, pb, pc, p0 in zip(a, b, c, _params(dtype, seed=3), strict=True):
        assert _diff(pa, pb) <= tol
        assert _diff(pa, pc) <= tol
        assert _diff(pa, p0) > 0.1  # the parameters did move
    assert len(calls["dense"]) == 300


def test_nan_gradient_propagates_like_torch():
    p = torch.nn.Parameter(torch.zeros(3))
    q = _clone([p])[0]
    for x, kw in ((p, {"fused": True}), (q, {"foreach": False})):
        x.grad = torch.tensor([float("nan"), 1.0, float("inf")])
        SMORMS3([x], lr=0.1, **kw).step()
    assert torch.equal(p.isnan(), q.isnan()) and bool(p.isnan()[0]) and bool(p.isnan()[2])
    assert _diff(p[1], q[1]) <= 1e-7 and float(p.detach()[1]) != 0


# --- what the kernel takes and what falls back --------------------------------------------

def test_non_contiguous_param_falls_back_per_tensor(calls):
    gen = torch.Generator().manual_seed(0)
    # a transposed leaf: not contiguous, so the kernel cannot walk it as a flat array
    strided = torch.nn.Parameter(torch.randn(4, 3, generator=gen).t())
    plain = torch.nn.Parameter(torch.randn(6, generator=gen))
    assert not strided.is_contiguous()
    a = [strided, plain]
    b = [torch.nn.Parameter(x.detach().clone()) for x in a]  # clone keeps the strides
    assert not b[0].is_contiguous()
    oa, ob = SMORMS3(a, lr=0.05), SMORMS3(b, lr=0.05, foreach=False)
    _train([(oa, a), (ob, b)], 50)
    assert calls["dense"] == [1] * 50  # only the contiguous parameter went to the kernel
    assert torch.equal(a[0], b[0])  # the strided one took the torch kernel: identical bits
    assert _diff(a[1], b[1]) <= 1e-6


def test_strided_and_negated_gradients_are_read_correctly(calls):
    p = torch.nn.Parameter(torch.randn(4, 5, dtype=torch.float64))
    q = _clone([p])[0]
    oa, ob = SMORMS3([p], lr=0.05, fused=True), SMORMS3([q], lr=0.05, foreach=False)
    for step in range(30):
        base = _grad(step, p, 0)
        p.grad = base.t().contiguous().t()  # same values, column-major
        if step % 3 == 0:
            p.grad = torch.zeros(1, 5, dtype=torch.float64).expand(4, 5)  # stride 0
        elif step % 3 == 1:
            p.grad = torch._neg_view(-base)  # lazily negated view: the bit must be resolved
        q.grad = p.grad.clone()
        oa.step()
        ob.step()
    assert calls["dense"] == [1] * 30
    assert _diff(p, q) <= 1e-12


def test_mixed_dtypes_and_devices_one_call_per_dtype(calls):
    a = _params(torch.float32) + _params(torch.float64, seed=1) + _params(torch.float16, seed=2)
    b = _clone(a)
    oa, ob = SMORMS3(a, lr=0.05, eps=1e-7), SMORMS3(b, lr=0.05, eps=1e-7, foreach=False)
    _train([(oa, a), (ob, b)], 10)
    assert sorted(calls["dense"][:2]) == [4, 4] and len(calls["dense"]) == 20
    for pa, pb in zip(a, b, strict=True):
        tol = {torch.float16: 0.0, torch.float32: 1e-6, torch.float64: 1e-12}[pa.dtype]
        assert _diff(pa, pb) <= tol


def test_threads_split_tensors_without_changing_bits(monkeypatch, calls):
    # tiny split threshold so that 4 threads cut through tensor boundaries and inside tensors
    sizes = [1000, 3, 2500, 1, 700]
    a = [torch.nn.Parameter(torch.randn(s, generator=torch.Generator().manual_seed(s)))
         for s in sizes]
    b = _clone(a)
    oa, ob = SMORMS3(a, lr=0.05), SMORMS3(b, lr=0.05)
    monkeypatch.setattr(_fused, "PARALLEL_MIN_ELEMENTS", 16)
    for step in range(5):
        for k, (pa, pb) in enumerate(zip(a, b, strict=True)):
            pa.grad = _grad(step, pa, k)
            pb.grad = pa.grad.clone()
        torch.set_num_threads(4)
        oa.step()
        torch.set_num_threads(1)
        ob.step()
    assert _fused._split(4204, 4204, 4) == [(0, 1051), (1051, 2102), (2102, 3153), (3153, 4204)]
    assert all(torch.equal(pa, pb) for pa, pb in zip(a, b, strict=True))
    for pa, pb in zip(a, b, strict=True):
        assert torch.equal(oa.state[pa]["mem"], ob.state[pb]["mem"])


def test_kernel_errors_on_a_worker_thread_reach_the_caller():
    seen = []

    def call(lo, hi):
        seen.append((lo, hi))
        if lo:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _fused._run([(0, 1), (1, 2)], call)
    assert sorted(seen) == [(0, 1), (1, 2)]


def test_autograd_sees_the_in_place_update():
    # a parameter saved for backward and then stepped must make backward fail, as with any
    # in-place torch op (the kernel writes through raw pointers and bumps the version counter)
    p = torch.nn.Parameter(torch.randn(5))
    opt = SMORMS3([p], fused=True)
    y = (p * p).sum()
    p.grad = torch.ones(5)
    version = p._version
    opt.step()
    assert p._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# --- sparse gradients -------------------------------------------------------------------------

def test_sparse_gradients_take_the_fused_kernel(calls):
    emb = torch.nn.Embedding(30, 4, sparse=True, dtype=torch.float64)
    ref = torch.nn.Embedding(30, 4, sparse=True, dtype=torch.float64)
    ref.load_state_dict(emb.state_dict())
    oa = SMORMS3(emb.parameters(), lr=0.05, weight_decay=0.1, fused=True)
    ob = SMORMS3(ref.parameters(), lr=0.05, weight_decay=0.1, fused=False)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        ids = torch.randint(0, 30, (9,), generator=gen)
        for m, o in ((emb, oa), (ref, ob)):
            o.zero_grad()
            (m(ids) ** 2).sum().backward()
            o.step()
    assert calls["sparse"] == [1] * 40 and calls["dense"] == []
    assert _diff(emb.weight, ref.weight) <= 1e-12
    assert torch.equal(oa.state[emb.weight]["mem"] == 1, ob.state[ref.weight]["mem"] == 1)


def test_sparse_gradient_out_of_bounds_is_refused_before_any_write():
    p = torch.nn.Parameter(torch.zeros(4, 2))
    opt = SMORMS3([p], fused=True)
    p.grad = torch.sparse_coo_tensor(torch.tensor([[1, 9]]), torch.ones(2, 2), (4, 2),
                                     check_invariants=False)
    with pytest.raises(IndexError, match="outside"):
        opt.step()
    p.grad = torch.sparse_coo_tensor(torch.tensor([[-1]]), torch.ones(1, 2), (4, 2),
                                     check_invariants=False)
    with pytest.raises(IndexError, match="outside"):
        opt.step()
    assert torch.equal(p, torch.zeros(4, 2))


def test_dense_sparse_optimizer_smorms3_uses_the_kernel(calls):
    torch.manual_seed(0)
    emb = torch.nn.Embedding(20, 3, sparse=True)
    lin = torch.nn.Linear(3, 2)
    params = [emb.weight, *lin.parameters()]
    opt = DenseSparseOptimizer(params, dense="smorms3", sparse="smorms3", lr=0.01)
    emb2, lin2 = torch.nn.Embedding(20, 3, sparse=True), torch.nn.Linear(3, 2)
    emb2.load_state_dict(emb.state_dict())
    lin2.load_state_dict(lin.state_dict())
    ref = SMORMS3([emb2.weight, *lin2.parameters()], lr=0.01, fused=False)
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        ids = torch.randint(0, 20, (6,), generator=gen)
        for e, li, o in ((emb, lin, opt), (emb2, lin2, ref)):
            o.zero_grad()
            li(e(ids)).pow(2).sum().backward()
            o.step()
    assert calls["dense"] == [2] * 20 and calls["sparse"] == [1] * 20
    assert _diff(emb.weight, emb2.weight) <= 1e-6
    assert _diff(lin.weight, lin2.weight) <= 1e-6
    with pytest.raises(ValueError, match="both be True"):
        DenseSparseOptimizer(params, dense="smorms3", sparse="smorms3", fused=True,
                             foreach=True)


# --- the kernel vectorises --------------------------------------------------------------------

@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 assembly")
@pytest.mark.parametrize(("kernel", "dtype"), [("_dense_kernel", np.float32),
                                               ("_dense_kernel", np.float64),
                                               ("_sparse_kernel", np.float32)])
def test_kernel_loop_is_vectorised(kernel, dtype):
    # Compiled afresh with the production options minus the cache (cached code cannot be
    # inspected): a packed divide and a packed square root mean the loop body is SIMD. Losing
    # error_model="numpy" or mixing a float64 constant into float32 math makes this fail.
    dispatcher = getattr(_fused, kernel)
    options = {k: v for k, v in dispatcher.targetoptions.items()
               if k not in ("cache", "nopython")}
    fresh = numba.njit(**options)(dispatcher.py_func)
    s = [dtype(v) for v in (0.01, 1e-16, 1.0, 1.0)]
    addresses = np.zeros((0, 5), np.int64)
    if kernel == "_dense_kernel":
        fresh(addresses, np.zeros(0, np.int64), 0, 0, *s)
    else:
        fresh(np.zeros(4, np.int64), 0, np.zeros(0, np.int64), np.zeros((0, 2), dtype), 0, 0, *s)
    asm = fresh.inspect_asm(fresh.signatures[0])
    suffix = "ps" if dtype == np.float32 else "pd"
    assert re.search(rf"\bvdiv{suffix}\b", asm), "the SMORMS3 loop did not vectorise"
    assert re.search(rf"\bvsqrt{suffix}\b", asm)
    assert re.search(rf"\bvmin{suffix}\b", asm)  # min(lr, x) as one instruction, no branch
    # no float32 <-> float64 round trips in the kernel itself (its Python wrapper unboxes the
    # float32 scalars from doubles, which is fine)
    ir = fresh.inspect_llvm(fresh.signatures[0])
    kernel_ir = [f for f in ir.split("\ndefine ")[1:] if "cpython" not in f.split("(")[0]]
    assert kernel_ir and not any(re.search(r"\b(fpext|fptrunc)\b", f) for f in kernel_ir)


def test_empty_and_scalar_tensors_in_one_call(calls):
    a = [torch.nn.Parameter(torch.zeros(0)), torch.nn.Parameter(torch.tensor(2.0)),
         torch.nn.Parameter(torch.ones(3))]
    b = _clone(a)
    oa, ob = SMORMS3(a, lr=0.1), SMORMS3(b, lr=0.1, foreach=False)
    _train([(oa, a), (ob, b)], 5)
    assert calls["dense"] == [3] * 5
    assert all(_diff(pa, pb) <= 1e-6 for pa, pb in zip(a[1:], b[1:], strict=True))
    assert a[0].shape == (0,) and float(a[1].detach()) != 2.0


def test_numba_that_fails_to_import_falls_back_with_one_warning(monkeypatch, calls):
    # installed but unimportable (e.g. built against another NumPy): fused=None warns once and
    # runs the torch kernels; fused=True raises
    def broken():
        raise ImportError("numba built for another numpy")

    monkeypatch.setattr(smorms3_module, "_fused_kernels", broken)
    monkeypatch.setattr(smorms3_module, "_auto_fused_failed", [])
    emb = torch.nn.Embedding(10, 3, sparse=True)
    lin = torch.nn.Linear(3, 2)
    ref_emb, ref_lin = torch.nn.Embedding(10, 3, sparse=True), torch.nn.Linear(3, 2)
    ref_emb.load_state_dict(emb.state_dict())
    ref_lin.load_state_dict(lin.state_dict())
    opt = SMORMS3([emb.weight, *lin.parameters()], lr=0.01)
    ref = SMORMS3([ref_emb.weight, *ref_lin.parameters()], lr=0.01, fused=False)
    with pytest.warns(RuntimeWarning, match="failed to import") as record:
        for step in range(3):
            ids = torch.tensor([step, step + 1, 7])
            for e, li, o in ((emb, lin, opt), (ref_emb, ref_lin, ref)):
                o.zero_grad()
                li(e(ids)).pow(2).sum().backward()
                o.step()
    assert len(record) == 1 and calls["dense"] == [] and calls["sparse"] == []
    assert torch.equal(emb.weight, ref_emb.weight) and torch.equal(lin.weight, ref_lin.weight)
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    with pytest.raises(ImportError, match="another numpy"):
        smorms3([p], [p.grad], [torch.ones(2)], [torch.zeros(2)], [torch.zeros(2)], fused=True,
                lr=0.1, eps=1e-16)
