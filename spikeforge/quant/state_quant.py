r"""Quantized membrane state: SQUAT (stateful quantization-aware training).

Venkatesh, Marinescu & Eshraghian (arXiv 2404.19668; snnTorch ``functional/quant.py``): the
membrane potential is rounded to one of :math:`N = 2^b` levels after each state update and before
the spike test, in training and in evaluation; the backward pass is the identity (STE).

Levels lie in :math:`[v_{min}, v_{max}] = [-\theta(1+\ell), \theta(1+\upsilon)]` (defaults
:math:`\theta=1, \ell=0, \upsilon=0.2`):

- **uniform**: ``linspace(v_min, v_max, N)``;
- **threshold-centred** (multiplier :math:`m \in (0, 1)`, default by bits 1→0.05, 2→0.1, 3→0.3,
  4→0.5, 5→0.7, 6→0.9, 7→0.925, ≥8→0.95): :math:`n_{lo} = \lfloor N(\theta - v_{min})/(v_{max} - v_{min})\rfloor`
  levels are given to the span below θ and :math:`n_{hi} = N - n_{lo}` to the span above it. Below:
  :math:`v_{min} + \sum_{j<i} m^j/\rho_{lo}` for :math:`i = 0 .. n_{lo}-2`, with
  :math:`\rho_{lo} = \sum_{j<n_{lo}} m^j / (\theta - v_{min})` (steps shrink toward θ); then θ itself;
  above: :math:`\theta + \sum_{j=n_{hi}-k}^{n_{hi}-1} m^j/\rho_{hi}` for :math:`k = 1 .. n_{hi}`, with
  :math:`\rho_{hi} = \sum_{j<n_{hi}} m^j / (v_{max} - \theta)` (steps grow away from θ; the last
  level is :math:`v_{max}`). These are the reference's exact values (b=2: −1, 0.8018, 1, 1.2).

  ``theta_level=False`` gives the variant of snnTorch 1.0.0 (the installed peer), which does not
  make θ a level: it keeps the :math:`n_{lo}`-th level below, :math:`\theta - m^{n_{lo}-1}/\rho_{lo}`,
  instead (b=2: −1, 0.8018, 0.98198, 1.2). The reference (and the snnTorch source it was read
  from) make θ a level, so that is our default.

Rounding is to the nearest level (the lower one on an exact tie). Note that 0 (rest, hard reset)
is generally not a level, and that the levels are fixed for the threshold they were built for:
:func:`quantize_state` refuses a neuron with a different (or learnable) ``v_th``.

Example:
    >>> sq = StateQuant.threshold_centred(bits=2)
    >>> [round(v, 4) for v in sq.levels]
    [-1.0, 0.8018, 1.0, 1.2]
    >>> sq(torch.tensor([-2.0, 0.0, 0.95, 3.0]))
    tensor([-1.0000,  0.8018,  1.0000,  1.2000])
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .fake_quant import ste

__all__ = ["DEFAULT_MULTIPLIER", "StateQuant", "quantize_state", "quantize_to_levels", "threshold_centred_levels",
           "uniform_levels"]

DEFAULT_MULTIPLIER = {1: 0.05, 2: 0.1, 3: 0.3, 4: 0.5, 5: 0.7, 6: 0.9, 7: 0.925}  # >= 8 bits: 0.95


def _range(bits: int, v_th: float, lower: float, upper: float) -> tuple[int, float, float]:
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16:
        raise ValueError(f"state quantization: bits must be an int in [1, 16], got {bits!r}")
    if not (v_th > 0 and math.isfinite(v_th)):
        raise ValueError(f"state quantization: threshold v_th must be a positive number, got {v_th!r}")
    if not (lower >= 0 and upper >= 0 and math.isfinite(lower) and math.isfinite(upper)):
        raise ValueError(f"state quantization: lower and upper margins must be >= 0, got {lower!r}, {upper!r}")
    return 2 ** bits, -v_th * (1 + lower), v_th * (1 + upper)


def uniform_levels(bits: int, v_th: float = 1.0, lower: float = 0.0, upper: float = 0.2) -> tuple[float, ...]:
    """``2**bits`` evenly spaced levels from ``-v_th (1 + lower)`` to ``v_th (1 + upper)``."""
    n, v_min, v_max = _range(bits, v_th, lower, upper)
    return tuple(v_min + (v_max - v_min) * i / (n - 1) for i in range(n))


def threshold_centred_levels(bits: int, v_th: float = 1.0, lower: float = 0.0, upper: float = 0.2,
                             multiplier: float | None = None, theta_level: bool = True) -> tuple[float, ...]:
    """The ``2**bits`` threshold-centred SQUAT levels (module docstring), ascending, in float64."""
    n, v_min, v_max = _range(bits, v_th, lower, upper)
    m = DEFAULT_MULTIPLIER.get(bits, 0.95) if multiplier is None else float(multiplier)
    if not 0 < m < 1:
        raise ValueError(f"state quantization: multiplier must be in (0, 1), got {multiplier!r}")
    n_lo = math.floor(n * (v_th - v_min) / (v_max - v_min))
    n_hi = n - n_lo
    rho_lo = sum(m**j for j in range(n_lo)) / (v_th - v_min)
    below = [v_min + sum(m**j for j in range(i)) / rho_lo for i in range(n_lo)]  # the last: v_th - m^(n_lo-1)/rho
    levels = below[:-1] + [v_th] if theta_level else below
    if n_hi:
        rho_hi = sum(m**j for j in range(n_hi)) / (v_max - v_th)
        levels += [v_th + sum(m**j for j in range(n_hi - k, n_hi)) / rho_hi for k in range(1, n_hi + 1)]
    return tuple(levels)


def quantize_to_levels(v: Tensor, levels: Tensor) -> Tensor:
    """Nearest level of ascending ``levels [L]`` for each element of ``v`` (lower level on a tie);
    gradient: identity (straight-through). Memory ``O(v.numel())``, not ``O(v.numel() * L)``."""
    levels = levels.to(dtype=v.dtype, device=v.device)
    mids = (levels[1:] + levels[:-1]) / 2  # [L-1] decision boundaries
    idx = torch.bucketize(v.detach(), mids)  # [*v.shape] in 0..L-1; v == mid -> the lower level
    return ste(v, levels[idx])


@dataclass(frozen=True)
class StateQuant:
    """A membrane quantizer: ``levels`` (ascending, built for threshold ``v_th``) and how they were made.

    Build with :meth:`uniform` or :meth:`threshold_centred`; call on a membrane tensor; pass to a
    spiking neuron as ``state_quant=`` or through :func:`quantize_state`.
    """

    levels: tuple[float, ...]
    v_th: float = 1.0
    scheme: str = "custom"

    def __post_init__(self) -> None:
        lv = self.levels
        if len(lv) < 2 or not all(math.isfinite(a) for a in lv) or any(b <= a for a, b in zip(lv, lv[1:])):
            raise ValueError(f"StateQuant: levels must be >= 2 finite, strictly increasing values, got {lv!r}")

    @property
    def bits(self) -> float:
        """Bits per stored state: ``log2(len(levels))``."""
        return math.log2(len(self.levels))

    @classmethod
    def uniform(cls, bits: int, v_th: float = 1.0, lower: float = 0.0, upper: float = 0.2) -> StateQuant:
        """Evenly spaced levels (see :func:`uniform_levels`)."""
        return cls(uniform_levels(bits, v_th, lower, upper), float(v_th), "uniform")

    @classmethod
    def threshold_centred(cls, bits: int, v_th: float = 1.0, lower: float = 0.0, upper: float = 0.2,
                          multiplier: float | None = None, theta_level: bool = True) -> StateQuant:
        """SQUAT's threshold-centred levels (see :func:`threshold_centred_levels`)."""
        return cls(threshold_centred_levels(bits, v_th, lower, upper, multiplier, theta_level), float(v_th),
                   "threshold_centred")

    def levels_tensor(self, dtype: torch.dtype = torch.float64, device: Any = None) -> Tensor:
        """The levels as a tensor ``[L]``."""
        return torch.tensor(self.levels, dtype=dtype, device=device)

    def __call__(self, x: Tensor) -> Tensor:
        return quantize_to_levels(x, self.levels_tensor(x.dtype, x.device))

    def __repr__(self) -> str:
        return f"StateQuant({self.scheme}, bits={self.bits:g}, v_th={self.v_th:g})"


def quantize_state(model: nn.Module, state_quant: StateQuant, *, inplace: bool = False) -> nn.Module:
    """Set ``state_quant`` on every spiking neuron of ``model`` (non-spiking readouts are left float).

    Raises ``ValueError`` if there is none, if a spiking neuron refuses one (HH, Izhikevich: see
    :meth:`~spikeforge.neurons.Neuron.state_quant_refusal`), or a neuron's ``v_th`` is learnable or
    differs from the quantizer's (its levels are built around one threshold).
    """
    from ..neurons import Neuron

    if not isinstance(state_quant, StateQuant):
        raise TypeError(f"quantize_state: expected a StateQuant, got {type(state_quant).__name__}")
    model = model if inplace else copy.deepcopy(model)
    done = 0
    for name, m in model.named_modules():
        if isinstance(m, Neuron) and m.spiking:
            try:
                m.set_state_quant(state_quant)
            except ValueError as e:
                raise ValueError(f"quantize_state: neuron {name or type(m).__name__!r}: {e}") from None
            done += 1
    if done == 0:
        raise ValueError(f"quantize_state: {type(model).__name__} has no spiking neuron to take a state quantizer")
    return model
