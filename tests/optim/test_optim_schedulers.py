"""Every torch.optim.lr_scheduler drives SMORMS3 and DenseSparseOptimizer like a torch optimizer,
and checkpoint/resume (scheduler state first, then optimizer state) continues bit for bit."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler as L

from vecsmith.optim import SMORMS3, DenseSparseOptimizer


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # tiny tensors: a second intra-op thread only adds contention on a shared 2-core box
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _factories(momentum: bool):
    """One constructor per scheduler; CyclicLR/OneCycleLR cycle momentum only when the
    optimizer has betas (SMORMS3 has none: the documented cycle_momentum=False)."""
    return {
        "LambdaLR": lambda o: L.LambdaLR(o, lambda e: 0.95**e),
        "MultiplicativeLR": lambda o: L.MultiplicativeLR(o, lambda e: 0.9),
        "StepLR": lambda o: L.StepLR(o, step_size=3, gamma=0.5),
        "MultiStepLR": lambda o: L.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.3),
        "ConstantLR": lambda o: L.ConstantLR(o, factor=0.5, total_iters=4),
        "LinearLR": lambda o: L.LinearLR(o, start_factor=0.2, total_iters=6),
        "ExponentialLR": lambda o: L.ExponentialLR(o, gamma=0.9),
        "SequentialLR": lambda o: L.SequentialLR(
            o, [L.LinearLR(o, start_factor=0.1, total_iters=3), L.ExponentialLR(o, gamma=0.8)],
            milestones=[3]),
        "CosineAnnealingLR": lambda o: L.CosineAnnealingLR(o, T_max=8),
        "ChainedScheduler": lambda o: L.ChainedScheduler(
            [L.ConstantLR(o, factor=0.5, total_iters=4), L.ExponentialLR(o, gamma=0.9)]),
        "ReduceLROnPlateau": lambda o: L.ReduceLROnPlateau(o, patience=1, factor=0.5),
        "CyclicLR": lambda o: L.CyclicLR(o, base_lr=1e-3, max_lr=0.05, step_size_up=4,
                                         cycle_momentum=momentum),
        "CosineAnnealingWarmRestarts": lambda o: L.CosineAnnealingWarmRestarts(o, T_0=5),
        "OneCycleLR": lambda o: L.OneCycleLR(o, max_lr=0.05, total_steps=40,
                                             cycle_momentum=momentum),
        "PolynomialLR": lambda o: L.PolynomialLR(o, total_iters=10, power=2.0),
    }


def test_every_scheduler_is_covered():
    names = {n for n in L.__all__ if n != "LRScheduler"}
    assert names == set(_factories(True))


def _model():
    torch.manual_seed(0)
    return nn.ModuleList([nn.Embedding(40, 6, sparse=True), nn.Linear(6, 2)])


def _steps(model, opt, sched, n, seed):
    gen = torch.Generator().manual_seed(seed)
    lrs = []
    for _ in range(n):
        ids = torch.randint(0, 40, (10,), generator=gen)
        opt.zero_grad()
        loss = model[1](model[0](ids)).pow(2).mean()
        loss.backward()
        opt.step()
        if isinstance(sched, L.ReduceLROnPlateau):
            sched.step(1.0)  # a flat loss: the plateau logic must cut lr
        else:
            sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


OPTIMIZERS = {
    "SMORMS3": (lambda ps: SMORMS3(ps, lr=0.01), False),
    "DenseSparse-Adam": (lambda ps: DenseSparseOptimizer(ps, lr=0.01), True),
    "DenseSparse-SMORMS3": (
        lambda ps: DenseSparseOptimizer(ps, dense="smorms3", sparse="smorms3", lr=0.01), False),
}


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("sched_name", sorted(_factories(True)))
def test_scheduler_drives_lr_and_resumes_exactly(opt_name, sched_name):
    make_opt, has_betas = OPTIMIZERS[opt_name]
    make_sched = _factories(has_betas)[sched_name]

    # the lr sequence equals the one the same scheduler gives torch.optim.SGD
    m = _model()
    opt = make_opt(m.parameters())
    sched = make_sched(opt)
    ref_opt = torch.optim.SGD(_model().parameters(), lr=0.01, momentum=0.9)
    ref_sched = _factories(True)[sched_name](ref_opt)
    lrs = _steps(m, opt, sched, 12, seed=1)
    ref_lrs = []
    for _ in range(12):
        ref_opt.step()
        ref_sched.step(1.0) if isinstance(ref_sched, L.ReduceLROnPlateau) else ref_sched.step()
        ref_lrs.append(ref_opt.param_groups[0]["lr"])
    assert lrs == pytest.approx(ref_lrs, rel=1e-12)
    assert len(set(lrs)) > 1

    # checkpoint: restore the scheduler first, then the optimizer (the documented order)
    m2 = copy.deepcopy(m)
    opt2 = make_opt(m2.parameters())
    sched2 = make_sched(opt2)
    sched2.load_state_dict(copy.deepcopy(sched.state_dict()))
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    a = _steps(m, opt, sched, 8, seed=2)
    b = _steps(m2, opt2, sched2, 8, seed=2)
    assert a == b
    assert all(torch.equal(x, y) for x, y in zip(m.parameters(), m2.parameters(), strict=True))


def test_smorms3_needs_cycle_momentum_off():
    # SMORMS3 has no momentum: torch refuses momentum cycling, the docs say cycle_momentum=False
    opt = SMORMS3(_model().parameters())
    with pytest.raises(ValueError, match="momentum"):
        L.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="momentum"):
        L.CyclicLR(opt, base_lr=1e-3, max_lr=0.1)


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_step_reads_the_scheduled_lr(opt_name):
    # a scheduler that sets lr to 0 after the first step must freeze the parameters
    m = _model()
    opt = OPTIMIZERS[opt_name][0](m.parameters())
    sched = L.LambdaLR(opt, lambda e: 1.0 if e == 0 else 0.0)
    _steps(m, opt, sched, 1, seed=0)
    frozen = [p.detach().clone() for p in m.parameters()]
    _steps(m, opt, sched, 3, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(frozen, m.parameters(), strict=True))
