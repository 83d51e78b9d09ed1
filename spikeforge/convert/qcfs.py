r"""QCFS activation (quantization-clip-floor-shift; Bu et al., ICLR 2022) for ANN training.

.. math:: h(z) = \lambda \, \frac{\lfloor \mathrm{clip}(z/\lambda, 0, 1)\,L + \varphi \rfloor}{L}

``λ`` (learnable, per layer) becomes the SNN threshold; ``L`` quantization levels; shift
``φ = 1/2``. Backward: straight-through through the floor; ``λ`` gets its gradient by autograd.
With IF neurons (reset by subtraction, ``u_0 = θ/2``, ``θ = λ``) driven by a constant input for
``T = L`` steps, ``θ·N_T/T = h(z)`` exactly (reference §2.2 item 4).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["QCFS", "qcfs"]


def qcfs(z: Tensor, lam: Tensor | float, levels: int, shift: float = 0.5) -> Tensor:
    """The QCFS activation ``h(z)`` (shapes: ``z`` any, ``lam`` broadcastable to it).

    Example:
        >>> qcfs(torch.tensor([-1.0, 0.3, 0.9, 5.0]), 1.0, levels=4)
        tensor([0.0000, 0.2500, 1.0000, 1.0000])
    """
    y = torch.clamp(z / lam, 0.0, 1.0)
    q = torch.floor(y * levels + shift) / levels
    return lam * (y + (q - y).detach())  # straight-through estimator through the floor


class QCFS(nn.Module):
    """Drop-in replacement for ``nn.ReLU`` when training an ANN for conversion.

    Args:
        levels: quantization steps ``L`` (>= 1); convert and run at ``T >= L``.
        lam: initial threshold ``λ`` (> 0; the reference's default is 8).
        shift: ``φ``; ``0.5`` is the value for which the expected conversion error is zero.

    Example:
        >>> QCFS(levels=4, lam=2.0)(torch.tensor([0.3, 1.1]))
        tensor([0.5000, 1.0000], grad_fn=<MulBackward0>)
    """

    def __init__(self, levels: int = 8, lam: float = 8.0, shift: float = 0.5) -> None:
        super().__init__()
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ValueError(f"QCFS: levels must be an int >= 1, got {levels!r}")
        if not float(lam) > 0:
            raise ValueError(f"QCFS: lam must be > 0, got {lam!r}")
        self.levels = levels
        self.shift = float(shift)
        self.lam = nn.Parameter(torch.tensor(float(lam)))

    def forward(self, z: Tensor) -> Tensor:
        if not bool(self.lam.detach() > 0):
            raise ValueError(f"QCFS: threshold lam became {self.lam.item():g}; it must stay > 0 "
                             "(lower the learning rate or clamp it)")
        return qcfs(z, self.lam, self.levels, self.shift)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, lam={self.lam.item():g}, shift={self.shift:g}"
