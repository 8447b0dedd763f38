r"""SMORMS3 (Simon Funk, 2015) as a ``torch.optim`` optimizer, for dense and sparse gradients.

Laid out like ``torch/optim/adam.py``: the class handles parameter groups and state; the
arithmetic lives in functional kernels (`_single_tensor_smorms3`, `_multi_tensor_smorms3`,
`_sparse_smorms3`, and the one-pass numba kernels of `_fused` behind `_fused_smorms3`) under
one dispatcher, `smorms3`.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.autograd.graph import increment_version
from torch.optim import Optimizer

from vecsmith._deps import require

__all__ = ["SMORMS3", "smorms3"]

# Devices where torch itself turns foreach on by default (CPU is not one: there the
# multi-tensor ops only add temporaries, see benchmarks/RESULTS.md).
_FOREACH_DEVICES = ("cuda", "xpu", "mtia")


def _default_foreach(params: list[Tensor]) -> bool:
    """foreach=None resolves like torch.optim: on only when every tensor is on a GPU-like device."""
    if torch.jit.is_scripting():
        return False
    return all(
        type(p) in (Tensor, torch.nn.Parameter) and p.device.type in _FOREACH_DEVICES
        for p in params
    )


_PLAIN = (Tensor, torch.nn.Parameter)
_FUSED_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


@functools.cache
def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def _fused_kernels() -> ModuleType:
    """The numba kernels (imported on first use: numba costs ~0.3 s to import)."""
    require("numba", "SMORMS3(fused=True)")
    from . import _fused

    return _fused


_auto_fused_failed: list[str] = []  # why numba could not be imported for fused=None


def _default_fused(foreach: bool | None) -> bool:
    """fused=None: on when numba is installed and foreach was left to its default (an explicit
    foreach=True/False asks for that torch path); never while torch.compile traces."""
    return (foreach is None and _numba_installed() and not _auto_fused_failed
            and not torch.compiler.is_compiling())


def _kernels(required: bool) -> ModuleType | None:
    """The numba kernels, or None when fused=None and numba is installed but will not import
    (say, built for another NumPy): then the torch kernels run, after one warning."""
    if _auto_fused_failed and not required:
        return None
    try:
        return _fused_kernels()
    except ImportError as exc:
        if required:
            raise
        _auto_fused_failed.append(str(exc))
        warnings.warn(f"SMORMS3: numba is installed but failed to import ({exc}); using the "
                      "torch kernels", RuntimeWarning, stacklevel=4)
        return None


def _can_fuse(p: Tensor, mem: Tensor, g: Tensor, g2: Tensor) -> bool:
    """Whether the numba kernel can update `p` and its state in place: contiguous CPU
    float32/float64 tensors of one dtype and size (anything else takes the torch path).
    Written flat because it runs for every tensor at every step."""
    dt = p.dtype
    n = p.numel()
    return (type(p) in _PLAIN and p.is_cpu and dt in _FUSED_DTYPES and p.is_contiguous()
            and type(mem) in _PLAIN and type(g) in _PLAIN and type(g2) in _PLAIN
            and mem.is_cpu and g.is_cpu and g2.is_cpu
            and mem.dtype == dt and g.dtype == dt and g2.dtype == dt
            and mem.numel() == n and g.numel() == n and g2.numel() == n
            and mem.is_contiguous() and g.is_contiguous() and g2.is_contiguous()
            and not (p.is_neg() or mem.is_neg() or g.is_neg() or g2.is_neg()))


def _can_read(grad: Tensor, p: Tensor) -> bool:
    """Whether the dense gradient `grad` can be handed to the kernel beside `p` (it is made
    contiguous and its negation bit resolved first if needed)."""
    return (type(grad) in _PLAIN and grad.is_cpu and grad.dtype == p.dtype
            and grad.shape == p.shape)


def _scalar(value: float | Tensor) -> float:
    """A float from a Python number or a 1-element tensor (schedulers may store a tensor lr)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError("tensor hyperparameters must have exactly one element")
        return float(value.item())
    return float(value)


def check_fused_group(group: dict[str, Any]) -> None:
    """fused=True must be satisfiable: numba installed, CPU float32/float64 params, no foreach."""
    if not group.get("fused"):
        return
    if group.get("foreach"):
        raise ValueError("`foreach` and `fused` cannot both be True")
    _fused_kernels()
    for p in group["params"]:
        if p.device.type != "cpu" or p.dtype not in _FUSED_DTYPES:
            raise ValueError(f"fused=True needs CPU float32/float64 parameters, got {p.dtype} "
                             f"on {p.device}; use fused=None (automatic) or foreach")


def _check_hyperparameters(lr: float | Tensor, eps: float, weight_decay: float) -> None:
    if not 0.0 <= _scalar(lr):
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 < eps:
        raise ValueError(f"Invalid epsilon value: {eps} (SMORMS3 divides by g2+eps; it must be > 0)")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class SMORMS3(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-3,
        eps: float = 1e-16,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        _check_hyperparameters(lr, eps, weight_decay)
        defaults = {
            "lr": lr,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults)
        for gi, group in enumerate(self.param_groups):
            for pi, p in enumerate(group["params"]):
                if p.is_sparse:
                    raise ValueError(
                        f"Sparse param at index [{gi}, {pi}]: SMORMS3 needs dense parameter "
                        "tensors (sparse *gradients* of dense parameters are fine)"
                    )
                if p.is_complex():
                    raise ValueError(
                        f"Complex param at index [{gi}, {pi}]: SMORMS3 does not support "
                        "complex parameters"
                    )

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        check_fused_group(self.param_groups[-1])

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("fused", None)
            group.setdefault("weight_decay", 0.0)

    def _init_group(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        mems: list[Tensor],
        gs: list[Tensor],
        g2s: list[Tensor],
    ) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            params.append(p)
            grads.append(p.grad)
            state = init_smorms3_state(p, self.state[p])
            mems.append(state["mem"])
            gs.append(state["g"])
            g2s.append(state["g2"])

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimisation step; `closure` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: list[Tensor] = []
            grads: list[Tensor] = []
            mems: list[Tensor] = []
            gs: list[Tensor] = []
            g2s: list[Tensor] = []
            self._init_group(group, params, grads, mems, gs, g2s)
            smorms3(
                params,
                grads,
                mems,
                gs,
                g2s,
                foreach=group["foreach"],
                fused=group["fused"],
                lr=group["lr"],
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                maximize=group["maximize"],
            )
        return loss


SMORMS3.__doc__ = r"""Implements SMORMS3 ("squared mean over root mean squared, cubed"; Simon Funk, 2015).

    .. math::
       \begin{aligned}
         &\textbf{input}: \gamma \text{ (lr)}, \epsilon \text{ (eps)}, \lambda
            \text{ (weight decay)}, \theta_0 \text{ (params)}, \textit{maximize} \\
         &\textbf{initialize}: m_0 \leftarrow 1 \text{ (memory)},\;
            \bar g_0 \leftarrow 0,\; \bar v_0 \leftarrow 0 \\
         &\textbf{for}\; t = 1 \ldots: \\
         &\quad g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1})
            \quad(- \text{ when maximize}) \\
         &\quad \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
            \quad\text{(decoupled weight decay, when } \lambda \neq 0) \\
         &\quad r_t \leftarrow 1/(m_{t-1} + 1) \\
         &\quad \bar g_t \leftarrow (1 - r_t)\,\bar g_{t-1} + r_t\, g_t \\
         &\quad \bar v_t \leftarrow (1 - r_t)\,\bar v_{t-1} + r_t\, g_t^2 \\
         &\quad x_t \leftarrow \bar g_t^2 / (\bar v_t + \epsilon) \\
         &\quad \theta_t \leftarrow \theta_{t-1} - g_t\,\min(\gamma, x_t)/(\sqrt{\bar v_t} + \epsilon) \\
         &\quad m_t \leftarrow 1 + m_{t-1}(1 - x_t)
       \end{aligned}

    All operations are elementwise. :math:`x_t \in [0, 1)` measures how consistent the
    gradient's sign has been; ``lr`` caps the step rather than scaling it, and the memory
    :math:`m` shortens the averaging window when the gradient flips sign. The defaults
    (lr 1e-3, eps 1e-16) are chainer's and ensmallen's.

    **Sparse gradients** (``nn.Embedding(sparse=True)``, ``nn.EmbeddingBag(sparse=True)``)
    take a *lazy* path like :class:`torch.optim.SparseAdam`: only rows present in the
    gradient have their state and parameters updated. Dense SMORMS3 on a row whose gradient
    is zero leaves the parameter alone but still decays :math:`\bar g, \bar v` and adds 1 to
    the memory, so the lazy path differs from dense SMORMS3 on rows that are not touched at
    every step (it equals dense SMORMS3 applied, at each step, to the touched rows only).
    Decoupled weight decay on the sparse path is lazy as well (touched rows only).

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr (float, Tensor): the cap on the per-element step, see above (default: 1e-3).
        eps (float): added inside the ratio and to the RMS denominator (default: 1e-16).
            float16/bfloat16 parameters cannot represent 1e-16; use eps >= 1e-7 for them.
        weight_decay (float): decoupled (AdamW-style) weight decay, ``θ ← θ(1 - lr·λ)``
            before the update (default: 0).
        maximize (bool): maximise the objective instead of minimising it (default: False).
        foreach (bool, optional): use the multi-tensor (``torch._foreach_*``) kernel for dense
            gradients. ``None`` picks it on CUDA/XPU and the per-tensor loop on CPU, as
            ``torch.optim`` does (default: None).
        fused (bool, optional): use the one-pass numba kernel (extra ``vecsmith[fast]``) for
            contiguous CPU float32/float64 tensors, dense and sparse gradients alike. It reads
            and writes every element once, where the torch kernels make ~15 passes, and
            updates all tensors of a dtype in one call: 0.2-0.5x the time of
            ``torch.optim.Adam(foreach=True)`` on CPU (benchmarks/RESULTS.md). ``None`` turns
            it on when numba is installed and ``foreach`` is left at ``None``; an explicit
            ``foreach`` keeps that torch path. ``True`` requires numba and CPU float32/float64
            parameters and cannot be combined with ``foreach=True``. Either way, a tensor the
            kernel cannot take (non-contiguous, other dtype or device) takes the torch path.
            Large steps are split across ``torch.get_num_threads()`` threads. The first step
            imports numba and loads the compiled kernels (compiled once, then cached).
            (default: None)

    State per parameter: ``mem``, ``g``, ``g2`` (tensors shaped like the parameter).
    Every hyperparameter, ``eps`` included, lives in ``param_groups`` and ``state_dict``, so LR
    schedulers drive ``lr``; SMORMS3 has no momentum, so construct ``CyclicLR`` and
    ``OneCycleLR`` with ``cycle_momentum=False``.

    Example:
        >>> opt = SMORMS3(model.parameters(), lr=1e-3)
        >>> loss_fn(model(x), y).backward(); opt.step(); opt.zero_grad()
    """


def init_smorms3_state(p: Tensor, state: dict[str, Any]) -> dict[str, Any]:
    """Fill missing SMORMS3 state keys (mem = 1, g = g2 = 0) in `state` and return it."""
    if "mem" not in state:
        state["mem"] = torch.ones_like(p, memory_format=torch.preserve_format)
        state["g"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["g2"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    return state


def smorms3(
    params: list[Tensor],
    grads: list[Tensor],
    mems: list[Tensor],
    gs: list[Tensor],
    g2s: list[Tensor],
    *,
    foreach: bool | None = None,
    fused: bool | None = None,
    lr: float | Tensor,
    eps: float,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    """Functional SMORMS3: update `params` and the state lists in place (see :class:`SMORMS3`).

    With `fused` (None: when numba is installed and `foreach` is None), contiguous CPU
    float32/float64 tensors go to the one-pass numba kernels, sparse gradients included; the
    rest as before: sparse gradients to the lazy per-tensor kernel, dense ones to the
    multi-tensor kernel when `foreach` (None: on for CUDA/XPU tensors), else per tensor.
    """
    if not (len(params) == len(grads) == len(mems) == len(gs) == len(g2s)):
        raise ValueError("params, grads, mems, gs and g2s must have the same length")
    if fused and foreach:
        raise ValueError("`foreach` and `fused` cannot both be True")
    if not params:
        return
    lr_f = _scalar(lr)
    required = bool(fused)
    if fused is None:
        fused = _default_fused(foreach)
    hyper = {"lr": lr_f, "eps": eps, "weight_decay": weight_decay, "maximize": maximize}
    dense = [i for i, gr in enumerate(grads) if not gr.is_sparse]
    if len(dense) < len(grads):
        sparse = [i for i, gr in enumerate(grads) if gr.is_sparse]
        _sparse_smorms3(*([lst[i] for i in sparse] for lst in (params, grads, mems, gs, g2s)),
                        fused=fused, required=required, **hyper)
        params, grads, mems, gs, g2s = ([lst[i] for i in dense]
                                        for lst in (params, grads, mems, gs, g2s))
        if not params:
            return
    if fused:
        rest = _fused_smorms3(params, grads, mems, gs, g2s, required=required, **hyper)
        if len(rest) < len(params):
            params, grads, mems, gs, g2s = ([lst[i] for i in rest]
                                            for lst in (params, grads, mems, gs, g2s))
        if not params:
            return
    large = _large_gradients(params, grads)
    if large:
        for i in large:
            _wide_smorms3(params[i], grads[i], mems[i], gs[i], g2s[i], **hyper)
        params, grads, mems, gs, g2s = ([t for i, t in enumerate(lst) if i not in large]
                                        for lst in (params, grads, mems, gs, g2s))
        if not params:
            return
    if foreach is None:
        foreach = _default_foreach(params)
    func = _multi_tensor_smorms3 if foreach else _single_tensor_smorms3
    func(params, grads, mems, gs, g2s, **hyper)


def _large_gradients(params: list[Tensor], grads: list[Tensor]) -> set[int]:
    """Indices of dense float32/16 tensors with a gradient so large that its square overflows
    the dtype (|grad| >= sqrt(max)/4, about 4.6e18 for float32), where ``g^2 / v`` would be
    inf/inf = NaN. The mean gradient needs no check: it averages past gradients, and the wide
    path leaves it below the same bound. NaN gradients stay on the normal path (and
    propagate, as torch's optimizers do)."""
    idx = [i for i, (p, gr) in enumerate(zip(params, grads, strict=True))
           if p.dtype in _WIDEN and gr.numel()]
    if not idx:
        return set()
    found: set[int] = set()
    if _numba_installed() and not _auto_fused_failed:  # CPU float32: one vectorised read
        cpu = [i for i in idx if grads[i].dtype == torch.float32 and grads[i].is_cpu
               and type(grads[i]) in _PLAIN and grads[i].is_contiguous()
               and not grads[i].is_neg()]
        if cpu:
            kernels = _kernels(False)
            if kernels is not None:
                addresses = np.zeros((len(cpu), 5), dtype=np.int64)
                addresses[:, 1] = [grads[i].data_ptr() for i in cpu]
                sizes = np.array([grads[i].numel() for i in cpu], dtype=np.int64)
                hits = kernels.large_gradients(addresses, sizes, np.float32,
                                               _WIDEN[torch.float32])
                found = {cpu[k] for k in np.flatnonzero(hits)}
                done = set(cpu)
                idx = [i for i in idx if i not in done]
    if not idx:
        return found
    tops = torch._foreach_max(torch._foreach_abs([grads[i] for i in idx]))
    limits = torch.tensor([_WIDEN[params[i].dtype] for i in idx], device=tops[0].device)
    hits = torch.nonzero(torch.stack([t.float() for t in tops]) >= limits).flatten().tolist()
    return found | {idx[j] for j in hits}


# dtype -> magnitude from which the squares of SMORMS3 overflow it (sqrt(max) / 4)
_WIDEN = {dt: float(torch.finfo(dt).max) ** 0.5 / 4
          for dt in (torch.float32, torch.float16, torch.bfloat16)}


def _wide_smorms3(p: Tensor, grad: Tensor, mem: Tensor, g: Tensor, g2: Tensor, *, lr: float,
                  eps: float, weight_decay: float, maximize: bool) -> None:
    """The update of one tensor computed in float64 and rounded back: the step equals the
    float64 reference's. A mean square the state cannot hold (5e39 in float32) is stored as
    (max/64, so the mean gradient stays below the bound that sends a tensor here) and the
    mean gradient scaled by the same factor's root, so ``g^2 <= v`` still holds: x and the
    memory stay exact, later steps stay finite and bounded by lr / sqrt(r), but they are no
    longer the float64 reference's."""
    top = torch.finfo(p.dtype).max
    wide = [t.detach().to(torch.float64) for t in (p, grad, mem, g, g2)]
    _saturate(wide[3], wide[4], top)  # inf stored by an older version: inf - inf is NaN
    _single_tensor_smorms3(*([t] for t in wide), lr=lr, eps=eps, weight_decay=weight_decay,
                           maximize=maximize)
    _saturate(wide[3], wide[4], _WIDEN[p.dtype] ** 2 / 4)  # |g| <= sqrt(g2) < the bound
    p.copy_(wide[0])
    mem.copy_(wide[2])
    g.copy_(wide[3])
    g2.copy_(wide[4])


def _saturate(g: Tensor, g2: Tensor, top: float) -> None:
    """Scale (g, g2) by (c, c^2) where g2 > top so that g2 = top: the ratio g^2/g2 is kept."""
    factor = torch.where(g2 > top, (top / g2).sqrt(), torch.ones_like(g2))
    g.mul_(factor)
    g2.clamp_(max=top)


def _fused_smorms3(
    params: list[Tensor],
    grads: list[Tensor],
    mems: list[Tensor],
    gs: list[Tensor],
    g2s: list[Tensor],
    *,
    lr: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
    required: bool = True,
) -> list[int]:
    """One numba call per dtype over every tensor the kernel can take (dense gradients);
    returns the indices of those it cannot take, for the torch kernels."""
    plans: dict[torch.dtype, tuple[list, list, list]] = {}  # addresses, sizes, params
    rest = []
    kept = []  # contiguous copies of strided gradients, alive until the kernel returns
    for i, (p, grad, mem, g, g2) in enumerate(zip(params, grads, mems, gs, g2s, strict=True)):
        if not (_can_fuse(p, mem, g, g2) and _can_read(grad, p)):
            rest.append(i)
            continue
        if grad.is_neg() or not grad.is_contiguous():
            grad = grad.resolve_neg().contiguous()
            kept.append(grad)
        plan = plans.get(p.dtype)
        if plan is None:
            plan = plans[p.dtype] = ([], [], [])
        plan[0].append((p.data_ptr(), grad.data_ptr(), mem.data_ptr(), g.data_ptr(),
                        g2.data_ptr()))
        plan[1].append(p.numel())
        plan[2].append(p)
    if not plans:
        return rest
    kernels = _kernels(required)
    if kernels is None:
        return list(range(len(params)))
    threads = torch.get_num_threads()
    for dtype, (addresses, sizes, touched) in plans.items():
        addresses = np.array(addresses, dtype=np.int64)
        sizes = np.array(sizes, dtype=np.int64)
        if dtype in _WIDEN:  # squares that overflow: that tensor's step is computed wide
            large = kernels.large_gradients(addresses, sizes, _FUSED_DTYPES[dtype],
                                            _WIDEN[dtype])
            if large.any():
                for k in np.flatnonzero(large):
                    i = next(i for i, p in enumerate(params) if p is touched[k])
                    _wide_smorms3(params[i], grads[i], mems[i], gs[i], g2s[i], lr=lr, eps=eps,
                                  weight_decay=weight_decay, maximize=maximize)
                addresses, sizes = addresses[~large], sizes[~large]
                touched = [t for t, hit in zip(touched, large, strict=True) if not hit]
        kernels.dense_step(addresses, sizes, _FUSED_DTYPES[dtype], lr=lr, eps=eps,
                           decay=1 - lr * weight_decay, sign=-1.0 if maximize else 1.0,
                           threads=threads)
        # The kernel wrote through raw pointers: bump the parameters' version counters as an
        # in-place torch op would, so autograd still notices a parameter saved for backward
        # being modified (the state tensors are never part of a graph).
        increment_version(touched)
    del kept
    return rest


def _single_tensor_smorms3(
    params: list[Tensor],
    grads: list[Tensor],
    mems: list[Tensor],
    gs: list[Tensor],
    g2s: list[Tensor],
    *,
    lr: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    # The operation sequence mirrors _multi_tensor_smorms3 exactly, so both agree bitwise
    # wherever the foreach ops fall back to the same per-tensor kernels.
    for param, grad, mem, g, g2 in zip(params, grads, mems, gs, g2s, strict=True):
        if maximize:
            grad = -grad
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        r = mem.add(1).reciprocal_()
        g.lerp_(grad, r)
        g2.lerp_(grad * grad, r)
        x = g * g
        x.div_(g2.add(eps))
        mem.addcmul_(mem, x, value=-1).add_(1)
        x.clamp_max_(lr).mul_(grad)
        param.addcdiv_(x, g2.sqrt().add_(eps), value=-1)


def _multi_tensor_smorms3(
    params: list[Tensor],
    grads: list[Tensor],
    mems: list[Tensor],
    gs: list[Tensor],
    g2s: list[Tensor],
    *,
    lr: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    grouped = Optimizer._group_tensors_by_device_and_dtype([params, grads, mems, gs, g2s])
    for (d_params, d_grads, d_mems, d_gs, d_g2s), _ in grouped.values():
        if d_params[0].device.type == "cpu":
            # CPU foreach ops are loops over tensors; keeping each chunk's temporaries small
            # keeps them in cache (one big list was 2x slower than the loop on large tensors)
            for lo, hi in _cpu_chunks(d_params):
                _multi_tensor_group(d_params[lo:hi], d_grads[lo:hi], d_mems[lo:hi],
                                    d_gs[lo:hi], d_g2s[lo:hi], lr=lr, eps=eps,
                                    weight_decay=weight_decay, maximize=maximize)
        else:
            _multi_tensor_group(d_params, d_grads, d_mems, d_gs, d_g2s, lr=lr, eps=eps,
                                weight_decay=weight_decay, maximize=maximize)


_CPU_CHUNK_ELEMENTS = 1 << 16


def _cpu_chunks(tensors: list[Tensor]) -> list[tuple[int, int]]:
    """Consecutive index ranges holding at most ~_CPU_CHUNK_ELEMENTS elements (or one tensor)."""
    chunks, start, size = [], 0, 0
    for i, t in enumerate(tensors):
        if size and size + t.numel() > _CPU_CHUNK_ELEMENTS:
            chunks.append((start, i))
            start, size = i, 0
        size += t.numel()
    chunks.append((start, len(tensors)))
    return chunks


def _multi_tensor_group(
    d_params: list[Tensor],
    d_grads: list[Tensor],
    d_mems: list[Tensor],
    d_gs: list[Tensor],
    d_g2s: list[Tensor],
    *,
    lr: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """The multi-tensor SMORMS3 update of one list of same-device, same-dtype tensors."""
    if maximize:
        d_grads = torch._foreach_neg(d_grads)
    if weight_decay != 0:
        torch._foreach_mul_(d_params, 1 - lr * weight_decay)
    r = torch._foreach_add(d_mems, 1)
    torch._foreach_reciprocal_(r)
    torch._foreach_lerp_(d_gs, d_grads, r)
    sq = torch._foreach_mul(d_grads, d_grads)
    torch._foreach_lerp_(d_g2s, sq, r)
    del sq
    x = torch._foreach_mul(d_gs, d_gs)
    torch._foreach_copy_(r, d_g2s)  # reuse r's memory for g2 + eps
    torch._foreach_add_(r, eps)
    torch._foreach_div_(x, r)
    torch._foreach_addcmul_(d_mems, d_mems, x, value=-1)
    torch._foreach_add_(d_mems, 1)
    torch._foreach_clamp_max_(x, lr)
    torch._foreach_mul_(x, d_grads)
    torch._foreach_copy_(r, d_g2s)
    torch._foreach_sqrt_(r)
    torch._foreach_add_(r, eps)
    torch._foreach_addcdiv_(d_params, x, r, value=-1)


def _rows(grad: Tensor) -> tuple[Tensor, ...]:
    """Index tensors of a coalesced sparse gradient: one per sparse dimension."""
    return tuple(grad._indices())


def gather_rows(t: Tensor, index: tuple[Tensor, ...]) -> Tensor:
    """t[index] as a new tensor; `index_select` for the common one-sparse-dim case (faster)."""
    return t.index_select(0, index[0]) if len(index) == 1 else t[index]


def put_rows(t: Tensor, index: tuple[Tensor, ...], values: Tensor) -> None:
    """t[index] = values for unique indices."""
    if len(index) == 1:
        t.index_copy_(0, index[0], values)
    else:
        t.index_put_(index, values)


def add_rows(t: Tensor, index: tuple[Tensor, ...], values: Tensor) -> None:
    """t[index] += values for unique indices (one rounding per element, like a sparse add_)."""
    if len(index) == 1:
        t.index_add_(0, index[0], values)
    else:
        t.index_put_(index, values, accumulate=True)


def _sparse_smorms3(
    params: list[Tensor],
    grads: list[Tensor],
    mems: list[Tensor],
    gs: list[Tensor],
    g2s: list[Tensor],
    *,
    lr: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
    fused: bool = False,
    required: bool = False,
) -> None:
    """Lazy SMORMS3: apply the dense equations to the rows present in each (coalesced) sparse
    gradient; absent rows keep parameters and state. With `fused`, the numba kernel updates the
    rows in place; otherwise they are gathered, updated by the torch kernel and written back."""
    for param, grad, mem, g, g2 in zip(params, grads, mems, gs, g2s, strict=True):
        grad = grad.coalesce()  # the update is non-linear: indices must be unique
        values = grad._values()
        if values.numel() == 0:
            continue
        # squares that overflow the dtype: these rows take the float64 update (see _wide_smorms3)
        wide = param.dtype in _WIDEN and bool(values.abs().max() >= _WIDEN[param.dtype])
        if (not wide and fused and _can_fuse(param, mem, g, g2) and values.dtype == param.dtype
                and (kernels := _kernels(required)) is not None):
            _fused_sparse_rows(kernels, param, mem, g, g2, grad, lr=lr, eps=eps,
                               weight_decay=weight_decay, maximize=maximize)
            continue
        index = _rows(grad)
        if maximize:
            values = -values
        p_rows = gather_rows(param, index)
        if weight_decay != 0:
            p_rows.mul_(1 - lr * weight_decay)
        mem_rows, g_rows, g2_rows = (gather_rows(t, index) for t in (mem, g, g2))
        if wide:
            _wide_smorms3(p_rows, values, mem_rows, g_rows, g2_rows, lr=lr, eps=eps,
                          weight_decay=0.0, maximize=False)
        else:
            _single_tensor_smorms3([p_rows], [values], [mem_rows], [g_rows], [g2_rows],
                                   lr=lr, eps=eps, weight_decay=0.0, maximize=False)
        for t, rows in ((param, p_rows), (mem, mem_rows), (g, g_rows), (g2, g2_rows)):
            put_rows(t, index, rows)


def _fused_sparse_rows(kernels: ModuleType, param: Tensor, mem: Tensor, g: Tensor, g2: Tensor,
                       grad: Tensor, *, lr: float, eps: float, weight_decay: float,
                       maximize: bool) -> None:
    """Lazy SMORMS3 of one coalesced sparse gradient by the numba kernel, in place: each
    nonzero block of the gradient updates the contiguous block of elements it addresses."""
    if grad.shape != param.shape:
        raise ValueError(f"gradient shape {tuple(grad.shape)} != parameter shape "
                         f"{tuple(param.shape)}")
    indices = grad._indices()
    sparse_dim = indices.shape[0]
    bounds = torch.tensor(param.shape[:sparse_dim], dtype=indices.dtype)
    # the kernel writes through raw pointers: an index outside the parameter must not get there
    # (sparse tensors are built without invariant checks by default)
    if bool((indices.amin(1) < 0).any()) or bool((indices.amax(1) >= bounds).any()):
        raise IndexError("sparse gradient has indices outside the parameter's shape")
    strides = torch.tensor(param.stride()[:sparse_dim], dtype=indices.dtype)
    offsets = (indices * strides[:, None]).sum(0).numpy()
    values = grad._values().detach().resolve_neg().contiguous()
    values = values.reshape(values.shape[0], -1).numpy()
    kernels.sparse_step(
        np.array([param.data_ptr(), mem.data_ptr(), g.data_ptr(), g2.data_ptr()], np.int64),
        param.numel(), offsets, values, lr=lr, eps=eps, decay=1 - lr * weight_decay,
        sign=-1.0 if maximize else 1.0, threads=torch.get_num_threads())
    increment_version(param)
