"""Plain float64 NumPy references for the optimizer tests (the equations, nothing clever)."""

from __future__ import annotations

import numpy as np


class NumpySMORMS3:
    """SMORMS3 exactly as written in the issue/chainer: mem = 1, g = g2 = 0 at start."""

    def __init__(self, shape: tuple[int, ...], lr: float, eps: float = 1e-16,
                 weight_decay: float = 0.0, maximize: bool = False) -> None:
        self.lr, self.eps, self.wd, self.maximize = lr, eps, weight_decay, maximize
        self.mem = np.ones(shape)
        self.g = np.zeros(shape)
        self.g2 = np.zeros(shape)

    def step(self, p: np.ndarray, grad: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Return the new parameter; with `rows`, update only those rows (the masked reference
        that lazy sparse SMORMS3 must equal)."""
        p = p.copy()
        sel = Ellipsis if rows is None else rows
        grad = -grad if self.maximize else grad
        gr = grad[sel]
        p[sel] = p[sel] * (1 - self.lr * self.wd)
        mem, g, g2 = self.mem[sel], self.g[sel], self.g2[sel]
        r = 1.0 / (mem + 1.0)
        g = (1 - r) * g + r * gr
        g2 = (1 - r) * g2 + r * gr * gr
        x = g * g / (g2 + self.eps)
        p[sel] = p[sel] - gr * np.minimum(self.lr, x) / (np.sqrt(g2) + self.eps)
        self.mem[sel] = 1 + mem * (1 - x)
        self.g[sel] = g
        self.g2[sel] = g2
        return p
