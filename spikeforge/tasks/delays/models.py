r"""The three networks compared on the delay tasks, sized to one parameter budget.

All map ``[T, B, C_in] → [T, B, C_out]`` (per-step logits) with one hidden layer of discrete-time
LIF neurons (:math:`v \leftarrow \beta v + i`, spike at 1, subtractive reset):

* ``delay`` — :class:`~spikeforge.layers.DelayLinear` (a weight *and* a learnable delay per synapse,
  window ``K``) → LIF → ``Linear``: :math:`H(2 C_{in} + 1) + C_{out}(H + 1)` parameters;
* ``plain`` — the same network without delays, ``Linear`` → LIF → ``Linear``:
  :math:`H(C_{in} + 1) + C_{out}(H + 1)`;
* ``rsnn`` — :class:`~spikeforge.layers.RecurrentSpiking` (input and all-to-all recurrent weights)
  → ``Linear``: :math:`H(C_{in} + H + 1) + C_{out}(H + 1)`.

:func:`build_matched` gives ``delay`` its hidden size and the other two the largest hidden size
that stays within the ``delay`` model's parameter count, so the comparison is at an equal (or
smaller) budget for the baselines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ...layers.dcls import DelayLinear
from ...layers.recurrent import RecurrentSpiking
from ...neurons.lif import LIF

__all__ = ["KINDS", "DelayTaskNet", "build", "build_matched", "count_params"]

KINDS = ("delay", "plain", "rsnn")


@dataclass(frozen=True)
class DelayTaskNet:
    """Architecture of one compared network.

    Attributes:
        kind: ``"delay"``, ``"plain"`` or ``"rsnn"``.
        in_features, out_features: ``C_in``, ``C_out``.
        hidden: Hidden LIF neurons ``H``.
        K: Delay window in taps (``delay`` only; delays ``0 … K-1`` steps).
        beta: Membrane decay per step of the hidden LIF neurons.
    """

    kind: str
    in_features: int
    out_features: int
    hidden: int
    K: int = 1
    beta: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"DelayTaskNet: kind must be one of {KINDS}, got {self.kind!r}")
        if min(self.in_features, self.out_features, self.hidden, self.K) < 1:
            raise ValueError(f"DelayTaskNet: sizes and K must be >= 1, got {self}")


def build(net: DelayTaskNet) -> nn.Sequential:
    """The module for ``net`` (see the module docstring)."""
    lif = LIF.from_decay(net.beta)
    head = nn.Linear(net.hidden, net.out_features)
    if net.kind == "delay":
        return nn.Sequential(DelayLinear(net.in_features, net.hidden, K=net.K, bias=True), lif, head)
    if net.kind == "plain":
        return nn.Sequential(nn.Linear(net.in_features, net.hidden), lif, head)
    return nn.Sequential(RecurrentSpiking(net.in_features, net.hidden, neuron=lif), head)


def count_params(model: nn.Module) -> int:
    """Trainable parameters (delay positions included; the σ buffer is not a parameter)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _formula(kind: str, c_in: int, c_out: int) -> Callable[[int], int]:
    per_hidden = {"delay": lambda h: h * (2 * c_in + 1), "plain": lambda h: h * (c_in + 1),
                  "rsnn": lambda h: h * (c_in + h + 1)}[kind]
    return lambda h: per_hidden(h) + c_out * (h + 1)


def build_matched(in_features: int, out_features: int, hidden: int, K: int, beta: float
                  ) -> dict[str, tuple[DelayTaskNet, nn.Sequential]]:
    """The three networks: ``delay`` with ``hidden`` neurons, the baselines as wide as the budget allows.

    Example:
        >>> nets = build_matched(2, 2, 16, K=17, beta=0.5)
        >>> {k: (n.hidden, count_params(m)) for k, (n, m) in nets.items()}
        {'delay': (16, 114), 'plain': (22, 112), 'rsnn': (8, 106)}
    """
    budget = _formula("delay", in_features, out_features)(hidden)
    out: dict[str, tuple[DelayTaskNet, nn.Sequential]] = {}
    for kind in KINDS:
        f = _formula(kind, in_features, out_features)
        h = hidden
        if kind != "delay":
            h = 1
            while f(h + 1) <= budget:
                h += 1
        net = DelayTaskNet(kind, in_features, out_features, h, K if kind == "delay" else 1, beta)
        model = build(net)
        if count_params(model) != f(h):  # the formula is what the docs state; keep it honest
            raise RuntimeError(f"build_matched: {kind} has {count_params(model)} parameters, formula says {f(h)}")
        out[kind] = (net, model)
    return out
