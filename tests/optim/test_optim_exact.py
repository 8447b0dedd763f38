"""Exact checks that a planted bug in SMORMS3 fails (see benchmarks/mutants.py): the regime
where eps is not negligible, which the reference test's O(1) gradients never reach."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optim_reference import NumpySMORMS3

from vecsmith.optim import SMORMS3

PATHS = {"per-tensor": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize(("scale", "eps"), [(1e-9, 1e-16), (1e-4, 1e-8)])
def test_eps_sits_outside_the_square_root(path, scale, eps):
    """Gradients of the size of sqrt(eps): `sqrt(g2) + eps` and `sqrt(g2 + eps)` differ by
    a factor of ten here, so every kernel must place eps as the equations do."""
    gen = torch.Generator().manual_seed(3)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64))
              for s in [(6,), (3, 4)]]
    refs = [NumpySMORMS3(tuple(p.shape), lr=0.01, eps=eps) for p in params]
    ref_p = [p.detach().numpy().copy() for p in params]
    opt = SMORMS3(params, lr=0.01, eps=eps, **PATHS[path])
    for step in range(20):
        for k, p in enumerate(params):
            g = torch.Generator().manual_seed(100 * step + k)
            p.grad = scale * torch.randn(p.shape, generator=g, dtype=torch.float64)
            ref_p[k] = refs[k].step(ref_p[k], p.grad.numpy())
        before = [p.detach().clone() for p in params]
        opt.step()
        for p, b, r in zip(params, before, ref_p, strict=True):
            moved, want = (p.detach() - b).numpy(), r - b.numpy()
            assert np.abs(want).max() > 1e-4  # the step is not lost in rounding
            np.testing.assert_allclose(moved, want, rtol=1e-9, atol=1e-15)
            p.data.copy_(torch.from_numpy(r))  # keep both on the same trajectory
