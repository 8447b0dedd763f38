r"""One optimizer for ``model.parameters()`` of a model that mixes sparse and dense gradients.

``nn.Embedding(sparse=True)`` makes large vocabularies cheap, but ``torch.optim.Adam`` refuses
sparse gradients and ``SparseAdam`` refuses dense ones. :class:`DenseSparseOptimizer` is one
``torch.optim.Optimizer`` that looks at each gradient's layout *at step time* and hands it to
the matching :class:`UpdateRule` (Adam + lazy Adam by default). One ``param_groups``, one
``state_dict``; schedulers, closures, hooks and ``zero_grad`` work as for any optimizer.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.adam import adam as _adam_functional

from .smorms3 import (
    _check_hyperparameters,
    _rows,
    _scalar,
    add_rows,
    check_fused_group,
    gather_rows,
    init_smorms3_state,
    put_rows,
    smorms3,
)

__all__ = [
    "AdamRule",
    "DenseSparseOptimizer",
    "LazyAdamRule",
    "SMORMS3Rule",
    "UpdateRule",
]


class UpdateRule(ABC):
    """One algorithm for one gradient layout inside :class:`DenseSparseOptimizer`.

    A rule declares the hyperparameters it reads from a parameter group (``defaults``, merged
    into the optimizer's defaults), which gradient layouts it accepts (``layouts``), and a
    ``step`` that updates a list of parameters in place. State dicts are shared per parameter
    between the dense and the sparse rule, so a tied weight that receives a dense gradient on
    one step and a sparse one on the next keeps one state when both rules use the same keys.

    To add an algorithm, subclass and implement ``step``::

        class SGDRule(UpdateRule):
            name = "sgd"
            layouts = frozenset({"dense", "sparse"})
            defaults = {"lr": 1e-2}

            def step(self, params, grads, states, group):
                for p, g in zip(params, grads):
                    p.add_(g, alpha=-group["lr"])

        opt = DenseSparseOptimizer(model.parameters(), dense=SGDRule(), sparse=SGDRule())
    """

    name: ClassVar[str] = "rule"
    layouts: ClassVar[frozenset[str]] = frozenset({"dense"})
    defaults: ClassVar[Mapping[str, Any]] = {}

    def check(self, group: Mapping[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Validate a parameter group's hyperparameters; raise ValueError when one is bad."""

    @abstractmethod
    def step(self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
             group: Mapping[str, Any]) -> None:
        """Update `params` in place from `grads`; create missing keys in each `states` dict."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _scalar_dtype() -> torch.dtype:
    # torch.optim.Adam keeps `step` as a CPU tensor of this dtype (see adam.py _init_group).
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _init_adam_state(p: Tensor, state: dict[str, Any], amsgrad: bool) -> None:
    if "step" not in state:
        state["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    if amsgrad and "max_exp_avg_sq" not in state:
        state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def _check_adam(group: Mapping[str, Any]) -> None:
    beta1, beta2 = group["betas"]
    if not 0.0 <= _scalar(group["lr"]):
        raise ValueError(f"Invalid learning rate: {group['lr']}")
    if not 0.0 <= group["eps"]:
        raise ValueError(f"Invalid epsilon value: {group['eps']}")
    if not 0.0 <= beta1 < 1.0 or not 0.0 <= beta2 < 1.0:
        raise ValueError(f"Invalid betas: {group['betas']}")
    if not 0.0 <= group["weight_decay"]:
        raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")


_ADAM_DEFAULTS: Mapping[str, Any] = {
    "lr": 1e-3,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "weight_decay": 0.0,
    "amsgrad": False,
    "maximize": False,
    "foreach": None,
    "decoupled_weight_decay": False,
}


class AdamRule(UpdateRule):
    """Dense gradients: ``torch.optim.Adam``'s own functional kernel, same flags, same state."""

    name = "adam"
    layouts = frozenset({"dense"})
    defaults = _ADAM_DEFAULTS

    def check(self, group: Mapping[str, Any]) -> None:
        _check_adam(group)

    def step(self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
             group: Mapping[str, Any]) -> None:
        amsgrad = group["amsgrad"]
        for p, state in zip(params, states, strict=True):
            _init_adam_state(p, state, amsgrad)
        beta1, beta2 = group["betas"]
        _adam_functional(
            params,
            grads,
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [s["max_exp_avg_sq"] for s in states] if amsgrad else [],
            [s["step"] for s in states],
            foreach=group["foreach"],
            has_complex=any(torch.is_complex(p) for p in params),
            decoupled_weight_decay=group["decoupled_weight_decay"],
            amsgrad=amsgrad,
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
        )


class LazyAdamRule(UpdateRule):
    """Sparse gradients: lazy Adam, bit-for-bit ``torch.optim.SparseAdam`` when weight_decay = 0
    and amsgrad is off. Only rows present in the gradient change (moments, parameters; weight
    decay too, when set), and the bias correction uses the parameter's own step count. As in
    SparseAdam, eps is added to sqrt(v) rather than to Adam's sqrt(v / (1 - beta2^t))."""

    name = "lazy_adam"
    layouts = frozenset({"sparse"})
    defaults = _ADAM_DEFAULTS

    def check(self, group: Mapping[str, Any]) -> None:
        _check_adam(group)

    def step(self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
             group: Mapping[str, Any]) -> None:
        amsgrad = group["amsgrad"]
        for p, state in zip(params, states, strict=True):
            _init_adam_state(p, state, amsgrad)
        beta1, beta2 = group["betas"]
        lazy_adam(
            params,
            grads,
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [s["max_exp_avg_sq"] for s in states] if amsgrad else [],
            [s["step"] for s in states],
            lr=_scalar(group["lr"]),
            beta1=_scalar(beta1),
            beta2=_scalar(beta2),
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            amsgrad=amsgrad,
            maximize=group["maximize"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
        )


def lazy_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    state_steps: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> None:
    """Functional lazy Adam for sparse gradients (the arithmetic of ``SparseAdam``, in order).

    Rows are read and written by index (any ``sparse_dim``); ``step`` tensors are incremented
    in place even when a gradient has no entries, as ``SparseAdam`` does.
    """
    for i, param in enumerate(params):
        step_t = state_steps[i]
        step_t += 1
        grad = grads[i]
        if not grad.is_sparse:
            raise RuntimeError("lazy_adam needs sparse gradients; use torch.optim.adam for dense")
        grad = (-grad if maximize else grad).coalesce()
        values = grad._values()
        if values.numel() == 0:
            continue
        index = _rows(grad)
        if weight_decay != 0:
            if decoupled_weight_decay:
                put_rows(param, index, gather_rows(param, index).mul_(1 - lr * weight_decay))
            else:
                values = values.add(gather_rows(param, index), alpha=weight_decay)
        exp_avg, exp_avg_sq = exp_avgs[i], exp_avg_sqs[i]
        # old <- b * old + (1 - b) * new  <=>  old += (1 - b) * (new - old), as SparseAdam
        old_exp_avg = gather_rows(exp_avg, index)
        exp_avg_update = values.sub(old_exp_avg).mul_(1 - beta1)
        add_rows(exp_avg, index, exp_avg_update)
        old_exp_avg_sq = gather_rows(exp_avg_sq, index)
        exp_avg_sq_update = values.pow(2).sub_(old_exp_avg_sq).mul_(1 - beta2)
        add_rows(exp_avg_sq, index, exp_avg_sq_update)

        numer = exp_avg_update.add_(old_exp_avg)
        second = exp_avg_sq_update.add_(old_exp_avg_sq)
        if amsgrad:
            second = torch.maximum(gather_rows(max_exp_avg_sqs[i], index), second)
            put_rows(max_exp_avg_sqs[i], index, second)
        denom = second.sqrt_().add_(eps)
        step = float(step_t.item())
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr * math.sqrt(bias_correction2) / bias_correction1
        add_rows(param, index, -step_size * numer.div_(denom))


class SMORMS3Rule(UpdateRule):
    """SMORMS3 for both layouts: dense kernels (per-tensor or foreach) and the lazy sparse one."""

    name = "smorms3"
    layouts = frozenset({"dense", "sparse"})
    defaults: ClassVar[Mapping[str, Any]] = {
        "lr": 1e-3,
        "eps": 1e-16,
        "weight_decay": 0.0,
        "maximize": False,
        "foreach": None,
        "fused": None,
    }

    def check(self, group: Mapping[str, Any]) -> None:
        _check_hyperparameters(group["lr"], group["eps"], group["weight_decay"])
        check_fused_group(group)

    def step(self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]],
             group: Mapping[str, Any]) -> None:
        for p, state in zip(params, states, strict=True):
            init_smorms3_state(p, state)
        smorms3(
            params,
            grads,
            [s["mem"] for s in states],
            [s["g"] for s in states],
            [s["g2"] for s in states],
            foreach=group["foreach"],
            fused=group.get("fused"),
            lr=group["lr"],
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )


_RULES: dict[str, type[UpdateRule]] = {
    "adam": AdamRule,
    "lazy_adam": LazyAdamRule,
    "smorms3": SMORMS3Rule,
}


def _resolve(rule: str | UpdateRule, layout: str) -> UpdateRule:
    if isinstance(rule, str):
        key = rule.lower().replace("-", "_")
        if layout == "sparse" and key == "adam":
            key = "lazy_adam"  # the only way Adam can take sparse gradients
        if key not in _RULES:
            raise ValueError(f"unknown {layout} rule {rule!r}; choose one of {sorted(_RULES)} "
                             "or pass an UpdateRule instance")
        rule = _RULES[key]()
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"{layout} rule must be a name or an UpdateRule, got {type(rule).__name__}")
    if layout not in rule.layouts:
        raise ValueError(f"rule {rule.name!r} does not handle {layout} gradients")
    return rule


class DenseSparseOptimizer(Optimizer):
    r"""One optimizer for all parameters of a model mixing sparse and dense gradients.

    Each step, every parameter with a gradient goes to the ``dense`` rule or the ``sparse``
    rule according to ``p.grad.is_sparse`` — decided from the gradient, not from the module,
    because a tied ``Embedding(sparse=True)`` weight used densely elsewhere receives a dense
    gradient. The defaults reproduce ``torch.optim.Adam`` on dense gradients and
    ``torch.optim.SparseAdam`` on sparse ones, bit for bit.

    Args:
        params: ``model.parameters()``, named parameters, or parameter-group dicts with their
            own settings, as for any ``torch.optim`` optimizer.
        dense: rule for dense gradients: ``"adam"`` (default), ``"smorms3"`` or an
            :class:`UpdateRule`.
        sparse: rule for sparse gradients: ``"lazy_adam"`` (default; ``"adam"`` means the same),
            ``"smorms3"`` (lazy SMORMS3) or an :class:`UpdateRule`.
        **hyperparameters: overrides for the rules' defaults (``lr``, ``betas``, ``eps``,
            ``weight_decay``, ``amsgrad``, ``maximize``, ``foreach``,
            ``decoupled_weight_decay`` for Adam; ``lr``, ``eps``, ``weight_decay``,
            ``maximize``, ``foreach``, ``fused`` for SMORMS3). A key both rules read has one
            value; when their defaults differ (Adam's eps 1e-8, SMORMS3's 1e-16) you must pass it.

    With the Adam rules, ``betas`` is in ``defaults``, so ``OneCycleLR`` and ``CyclicLR``
    can cycle momentum; with SMORMS3 pass ``cycle_momentum=False`` to them.
    ``weight_decay`` on sparse gradients is lazy: only rows present in the gradient decay.

    Example:
        >>> opt = DenseSparseOptimizer(model.parameters(), lr=1e-3)   # Adam + SparseAdam
        >>> opt = DenseSparseOptimizer(model.parameters(), dense="smorms3", sparse="smorms3")
    """

    def __init__(
        self,
        params: Iterable[Any],
        dense: str | UpdateRule = "adam",
        sparse: str | UpdateRule = "lazy_adam",
        **hyperparameters: Any,
    ) -> None:
        self.dense_rule = _resolve(dense, "dense")
        self.sparse_rule = _resolve(sparse, "sparse")
        defaults = dict(self.dense_rule.defaults)
        clashes = []
        for key, value in self.sparse_rule.defaults.items():
            if key in defaults and defaults[key] != value and key not in hyperparameters:
                clashes.append(f"{key} ({defaults[key]!r} vs {value!r})")
            defaults.setdefault(key, value)
        if clashes:
            raise ValueError(
                f"rules {self.dense_rule.name!r} and {self.sparse_rule.name!r} have different "
                f"defaults for {', '.join(clashes)}; pass the value you want explicitly"
            )
        unknown = sorted(set(hyperparameters) - set(defaults))
        if unknown:
            raise TypeError(f"unknown hyperparameters {unknown}; the rules read {sorted(defaults)}")
        defaults.update(hyperparameters)
        super().__init__(params, defaults)
        for gi, group in enumerate(self.param_groups):
            for pi, p in enumerate(group["params"]):
                if p.is_sparse:
                    raise ValueError(f"Sparse param at index [{gi}, {pi}]: parameters must be "
                                     "dense tensors (their gradients may be sparse)")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        self.dense_rule.check(group)
        self.sparse_rule.check(group)

    def __repr__(self) -> str:
        name = type(self).__name__
        head = f"{name}(dense={self.dense_rule.name}, sparse={self.sparse_rule.name}) ("
        return super().__repr__().replace(f"{name} (", head, 1)

    def state_dict(self) -> dict[str, Any]:
        """The usual ``{'state', 'param_groups'}`` plus ``'rules'`` (names), checked on load."""
        sd = super().state_dict()
        sd["rules"] = {"dense": self.dense_rule.name, "sparse": self.sparse_rule.name}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        rules = state_dict.get("rules")
        mine = {"dense": self.dense_rule.name, "sparse": self.sparse_rule.name}
        if rules is not None and dict(rules) != mine:
            raise ValueError(f"state_dict was saved with rules {dict(rules)}, this optimizer "
                             f"uses {mine}")
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "rules"})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimisation step; `closure` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            dense_p: list[Tensor] = []
            sparse_p: list[Tensor] = []
            for p in group["params"]:
                if p.grad is not None:
                    (sparse_p if p.grad.is_sparse else dense_p).append(p)
            for rule, ps in ((self.dense_rule, dense_p), (self.sparse_rule, sparse_p)):
                if ps:
                    rule.step(ps, [p.grad for p in ps], [self.state[p] for p in ps], group)
        return loss
