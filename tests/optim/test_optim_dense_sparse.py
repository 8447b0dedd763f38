"""DenseSparseOptimizer: bitwise Adam + SparseAdam, routing by layout, rules, state, schedulers."""

from __future__ import annotations

import copy
from typing import ClassVar

import pytest
import torch
from torch import nn
from torch.optim.adam import adam as adam_functional

from vecsmith.optim import (
    SMORMS3,
    DenseSparseOptimizer,
    LazyAdamRule,
    SMORMS3Rule,
    UpdateRule,
    lazy_adam,
)
from vecsmith.optim.dense_sparse import AdamRule


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # tiny tensors: a second intra-op thread only adds contention on a shared 2-core box
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Mixed(nn.Module):
    """Sparse Embedding + sparse EmbeddingBag + dense layers: the seed posts' situation."""

    def __init__(self, seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(60, 8, sparse=True, dtype=dtype)
        self.bag = nn.EmbeddingBag(80, 8, mode="mean", sparse=True, dtype=dtype)
        self.hidden = nn.Linear(16, 12, dtype=dtype)
        self.out = nn.Linear(12, 3, dtype=dtype)

    def forward(self, ids: torch.Tensor, bag: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.emb(ids).mean(1), self.bag(bag)], dim=1)
        return self.out(torch.tanh(self.hidden(h)))

    def sparse_params(self) -> list[nn.Parameter]:
        return [self.emb.weight, self.bag.weight]

    def dense_params(self) -> list[nn.Parameter]:
        return [*self.hidden.parameters(), *self.out.parameters()]


def _batches(n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        yield (torch.randint(0, 60, (16, 5), generator=gen),
               torch.randint(0, 80, (16, 7), generator=gen),
               torch.randint(0, 3, (16,), generator=gen))


def _train(model, optimizers, steps, seed, schedulers=()):
    for ids, bag, y in _batches(steps, seed):
        for o in optimizers:
            o.zero_grad()
        nn.functional.cross_entropy(model(ids, bag), y).backward()
        for o in optimizers:
            o.step()
        for s in schedulers:
            s.step()


def _same(m1: nn.Module, m2: nn.Module) -> bool:
    return all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters(), strict=True))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"lr": 3e-2, "betas": (0.8, 0.99), "eps": 1e-6}, {"maximize": True},
     {"foreach": True}],
)
def test_bitwise_equal_to_adam_plus_sparse_adam(kwargs):
    m1, m2 = Mixed(), Mixed()
    one = DenseSparseOptimizer(m1.parameters(), **kwargs)
    adam = torch.optim.Adam(m2.dense_params(), **kwargs)
    sparse_kwargs = {k: v for k, v in kwargs.items() if k != "foreach"}
    sparse_adam = torch.optim.SparseAdam(m2.sparse_params(), **sparse_kwargs)
    for _ in range(3):  # 3 x 50 = 150 steps, checked along the way
        _train(m1, [one], 50, seed=len(one.state))
        _train(m2, [adam, sparse_adam], 50, seed=len(adam.state) + len(sparse_adam.state))
        assert _same(m1, m2)


def test_bitwise_with_param_groups_and_scheduler():
    m1, m2 = Mixed(), Mixed()
    one = DenseSparseOptimizer([
        {"params": [m1.emb.weight, m1.hidden.weight], "lr": 0.05},
        {"params": [m1.bag.weight, m1.hidden.bias, *m1.out.parameters()]},
    ], lr=0.01)
    adam = torch.optim.Adam([{"params": [m2.hidden.weight], "lr": 0.05},
                             {"params": [m2.hidden.bias, *m2.out.parameters()]}], lr=0.01)
    sparse_adam = torch.optim.SparseAdam([{"params": [m2.emb.weight], "lr": 0.05},
                                          {"params": [m2.bag.weight]}], lr=0.01)
    s1 = [torch.optim.lr_scheduler.StepLR(one, 20, gamma=0.5)]
    s2 = [torch.optim.lr_scheduler.StepLR(o, 20, gamma=0.5) for o in (adam, sparse_adam)]
    _train(m1, [one], 100, seed=7, schedulers=s1)
    _train(m2, [adam, sparse_adam], 100, seed=7, schedulers=s2)
    assert _same(m1, m2)
    assert one.param_groups[0]["lr"] == pytest.approx(0.05 * 0.5**5)


def test_one_cycle_cycles_betas_and_stays_bitwise():
    m1, m2 = Mixed(), Mixed()
    one = DenseSparseOptimizer(m1.parameters())
    adam = torch.optim.Adam(m2.dense_params())
    sparse_adam = torch.optim.SparseAdam(m2.sparse_params())
    sched = dict(max_lr=0.05, total_steps=120)
    s1 = [torch.optim.lr_scheduler.OneCycleLR(one, **sched)]
    s2 = [torch.optim.lr_scheduler.OneCycleLR(o, **sched) for o in (adam, sparse_adam)]
    betas_seen = set()
    for ids, bag, y in _batches(120, seed=3):
        for model, opts, scheds in ((m1, [one], s1), (m2, [adam, sparse_adam], s2)):
            for o in opts:
                o.zero_grad()
            nn.functional.cross_entropy(model(ids, bag), y).backward()
            for o in opts:
                o.step()
            for s in scheds:
                s.step()
        betas_seen.add(one.param_groups[0]["betas"][0])
    assert len(betas_seen) > 10  # momentum really cycled
    assert _same(m1, m2)


def test_state_dict_round_trip_is_exact():
    m1 = Mixed()
    o1 = DenseSparseOptimizer(m1.parameters(), lr=0.02)
    _train(m1, [o1], 30, seed=1)
    m2 = copy.deepcopy(m1)
    o2 = DenseSparseOptimizer(m2.parameters())
    sd = o1.state_dict()
    assert sd["rules"] == {"dense": "adam", "sparse": "lazy_adam"}
    o2.load_state_dict(copy.deepcopy(sd))
    assert o2.param_groups[0]["lr"] == 0.02
    _train(m1, [o1], 30, seed=2)
    _train(m2, [o2], 30, seed=2)
    assert _same(m1, m2)
    # a torch.optim.Adam state_dict has the same per-parameter layout for dense parameters
    assert set(sd["state"][2]) == {"step", "exp_avg", "exp_avg_sq"}


def test_load_state_dict_refuses_other_rules():
    m = Mixed()
    sd = DenseSparseOptimizer(m.parameters()).state_dict()
    other = DenseSparseOptimizer(m.parameters(), dense="smorms3", sparse="smorms3")
    with pytest.raises(ValueError, match="saved with rules"):
        other.load_state_dict(sd)


def test_smorms3_option_equals_smorms3_class():
    m1, m2 = Mixed(), Mixed()
    one = DenseSparseOptimizer(m1.parameters(), dense="smorms3", sparse="smorms3", lr=0.01)
    ref = SMORMS3(m2.parameters(), lr=0.01)
    _train(m1, [one], 80, seed=4)
    _train(m2, [ref], 80, seed=4)
    assert _same(m1, m2)
    assert "betas" not in one.defaults and one.defaults["eps"] == 1e-16


def test_tied_weight_gets_dense_gradient_and_keeps_one_state():
    emb = nn.Embedding(10, 4, sparse=True)
    opt = DenseSparseOptimizer(emb.parameters(), lr=0.01)
    # step 1: lookup only -> sparse gradient -> lazy Adam
    emb(torch.tensor([1, 2])).sum().backward()
    assert emb.weight.grad.is_sparse
    opt.step()
    opt.zero_grad()
    # step 2: weight tied as an output projection -> dense gradient -> Adam
    (torch.randn(3, 4) @ emb.weight.t()).sum().backward()
    assert not emb.weight.grad.is_sparse
    opt.step()
    state = opt.state[emb.weight]
    assert float(state["step"]) == 2.0
    assert bool((state["exp_avg"] != 0).all())  # the dense step reached every row


def test_lazy_adam_matches_masked_adam_with_weight_decay_and_amsgrad():
    torch.manual_seed(0)
    p = nn.Parameter(torch.randn(12, 3, dtype=torch.float64))
    ref = p.detach().clone()
    state = {}
    rstate = {"exp_avg": torch.zeros_like(ref), "exp_avg_sq": torch.zeros_like(ref),
              "max": torch.zeros_like(ref)}
    step_t = torch.tensor(0.0)
    for decoupled in (False, True):
        # eps = 0: SparseAdam (and lazy Adam) add eps to sqrt(v), Adam to sqrt(v / (1 - b2^t))
        rule_kwargs = dict(lr=0.03, betas=(0.9, 0.99), eps=0.0, weight_decay=0.1,
                           amsgrad=True, maximize=False, decoupled_weight_decay=decoupled,
                           foreach=None)
        gen = torch.Generator().manual_seed(int(decoupled))
        for _ in range(40):
            ids = torch.unique(torch.randint(0, 12, (5,), generator=gen))
            vals = torch.randn(len(ids), 3, generator=gen, dtype=torch.float64)
            p.grad = torch.sparse_coo_tensor(ids[None], vals, (12, 3), check_invariants=True)
            with torch.no_grad():
                LazyAdamRule().step([p], [p.grad], [state], rule_kwargs)
            # masked reference: torch's own Adam on the gathered rows, same step count
            rows = [ref[ids], rstate["exp_avg"][ids], rstate["exp_avg_sq"][ids],
                    rstate["max"][ids]]
            adam_functional([rows[0]], [vals], [rows[1]], [rows[2]], [rows[3]], [step_t],
                                  foreach=False, amsgrad=True, beta1=0.9, beta2=0.99,
                                  lr=0.03, weight_decay=0.1, eps=0.0, maximize=False,
                                  decoupled_weight_decay=decoupled)
            ref[ids], rstate["exp_avg"][ids], rstate["exp_avg_sq"][ids], rstate["max"][ids] = rows
        assert torch.allclose(p.detach(), ref, atol=1e-12, rtol=0)
        assert torch.allclose(state["max_exp_avg_sq"], rstate["max"], atol=1e-12, rtol=0)


def test_lazy_adam_functional_refuses_dense():
    with pytest.raises(RuntimeError, match="sparse"):
        lazy_adam([torch.zeros(2)], [torch.ones(2)], [torch.zeros(2)], [torch.zeros(2)], [],
                  [torch.tensor(0.0)], lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8)


class SGDRule(UpdateRule):
    """The docstring's example rule: plain SGD for both layouts."""

    name = "sgd"
    layouts = frozenset({"dense", "sparse"})
    defaults: ClassVar[dict] = {"lr": 1e-2}

    def step(self, params, grads, states, group):
        for p, g in zip(params, grads, strict=True):
            p.add_(g, alpha=-group["lr"])


def test_custom_rule_pair_equals_torch_sgd():
    m1, m2 = Mixed(), Mixed()
    one = DenseSparseOptimizer(m1.parameters(), dense=SGDRule(), sparse=SGDRule(), lr=0.1)
    sgd = torch.optim.SGD(m2.parameters(), lr=0.1)
    _train(m1, [one], 50, seed=5)
    _train(m2, [sgd], 50, seed=5)
    assert _same(m1, m2)


def test_mixed_rule_families_need_explicit_shared_defaults():
    m = Mixed()
    with pytest.raises(ValueError, match="eps"):
        DenseSparseOptimizer(m.parameters(), dense="adam", sparse="smorms3")
    opt = DenseSparseOptimizer(m.parameters(), dense="adam", sparse="smorms3", eps=1e-10)
    _train(m, [opt], 5, seed=0)
    assert set(opt.state[m.emb.weight]) == {"mem", "g", "g2"}
    assert set(opt.state[m.out.weight]) == {"step", "exp_avg", "exp_avg_sq"}


def test_rule_validation():
    p = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="unknown dense rule"):
        DenseSparseOptimizer(p, dense="adagrad")
    with pytest.raises(ValueError, match="does not handle dense"):
        DenseSparseOptimizer(p, dense=LazyAdamRule())
    with pytest.raises(ValueError, match="does not handle sparse"):
        DenseSparseOptimizer(p, sparse=AdamRule())
    with pytest.raises(TypeError, match="UpdateRule"):
        DenseSparseOptimizer(p, dense=torch.optim.Adam)
    with pytest.raises(TypeError, match="unknown hyperparameters"):
        DenseSparseOptimizer(p, momentum=0.9)
    with pytest.raises(ValueError, match="betas"):
        DenseSparseOptimizer(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="epsilon"):
        DenseSparseOptimizer(p, dense="smorms3", sparse="smorms3", eps=0.0)
    with pytest.raises(ValueError, match="learning rate"):
        DenseSparseOptimizer(p).add_param_group({"params": [nn.Parameter(torch.zeros(1))],
                                                 "lr": -1.0})
    with pytest.raises(ValueError, match="more than one parameter group"):
        DenseSparseOptimizer([{"params": p}, {"params": p}])
    with pytest.raises(ValueError, match="dense tensors"):
        DenseSparseOptimizer([nn.Parameter(torch.eye(3).to_sparse())])
    # "adam" for sparse gradients means lazy Adam
    assert isinstance(DenseSparseOptimizer(p, sparse="adam").sparse_rule, LazyAdamRule)
    assert isinstance(DenseSparseOptimizer(p, dense="SMORMS3", sparse="smorms3").dense_rule,
                      SMORMS3Rule)


def test_closure_hooks_zero_grad_and_repr():
    m = Mixed()
    opt = DenseSparseOptimizer(m.parameters())
    seen = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: seen.append("post"))
    ids, bag, y = next(_batches(1, 0))

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(m(ids, bag), y)
        loss.backward()
        return loss

    assert float(opt.step(closure).detach()) > 0 and seen == ["pre", "post"]
    opt.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert "dense=adam, sparse=lazy_adam" in repr(opt)


def test_frozen_and_unused_parameters_are_skipped():
    m = Mixed()
    m.hidden.bias.requires_grad_(False)
    opt = DenseSparseOptimizer(m.parameters())
    before = m.hidden.bias.detach().clone()
    _train(m, [opt], 3, seed=0)
    assert torch.equal(m.hidden.bias, before) and m.hidden.bias not in opt.state


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bitwise_equal_to_adam_plus_sparse_adam():
    m1, m2 = Mixed().cuda(), Mixed().cuda()
    one = DenseSparseOptimizer(m1.parameters())  # foreach resolves to True on CUDA, as Adam
    adam, sparse_adam = (torch.optim.Adam(m2.dense_params()),
                         torch.optim.SparseAdam(m2.sparse_params()))
    for ids, bag, y in _batches(50, seed=1):
        ids, bag, y = ids.cuda(), bag.cuda(), y.cuda()
        for model, opts in ((m1, [one]), (m2, [adam, sparse_adam])):
            for o in opts:
                o.zero_grad()
            nn.functional.cross_entropy(model(ids, bag), y).backward()
            for o in opts:
                o.step()
    assert _same(m1, m2)
