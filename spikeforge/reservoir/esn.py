r"""Echo state network (rate reservoir), leaky tanh, float64 by default.

.. math:: x(t) = (1 - a)\,x(t-1) + a\,f\big(W x(t-1) + W_{in} u(t) + b\big)

with :math:`f = \tanh` (or identity for a linear reservoir), leak ``a``, ``W`` a random sparse N(0, 1)
matrix rescaled to spectral radius :math:`\rho = \max|\lambda(W)|` (``w``, ``w_in``, ``bias`` given by the
user are used as given),
:math:`W_{in} \sim U(-s_{in}, s_{in})`, :math:`b \sim U(-s_b, s_b)`. Readout: :class:`~.readout.Ridge`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .connectivity import input_projection, random_sparse, scale_spectral_radius

__all__ = ["ESN"]


class ESN(nn.Module):
    """Rate reservoir: ``forward(u [T, B, n_in]) -> states [T, B, N]`` from ``x(0) = 0`` (or ``x0``).

    Example:
        >>> esn = ESN(50, 1, spectral_radius=0.9, seed=0)
        >>> esn(torch.rand(100, 2, 1, dtype=torch.float64)).shape
        torch.Size([100, 2, 50])
    """

    w: Tensor  # [N, N] recurrent
    w_in: Tensor  # [N, n_in]
    bias: Tensor  # [N]

    def __init__(
        self, n: int, n_in: int, *, spectral_radius: float = 0.9, leak: float = 1.0, density: float = 1.0,
        input_scale: float = 1.0, bias_scale: float = 0.0, activation: str = "tanh", w: Tensor | None = None,
        w_in: Tensor | None = None, bias: Tensor | None = None, seed: int = 0, dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if not 0.0 < leak <= 1.0:
            raise ValueError(f"ESN: leak must be in (0, 1], got {leak}")
        if activation not in ("tanh", "linear"):
            raise ValueError(f"ESN: activation must be 'tanh' or 'linear', got {activation!r}")
        g = torch.Generator()
        g.manual_seed(seed)
        if w is None:
            w = scale_spectral_radius(random_sparse(n, n, density, seed=g), spectral_radius)
        if w.shape != (n, n):
            raise ValueError(f"ESN: w must be [{n}, {n}], got {tuple(w.shape)}")
        if w_in is None:
            w_in = input_projection(n, n_in, scale=input_scale, seed=g)
        if w_in.shape != (n, n_in):
            raise ValueError(f"ESN: w_in must be [{n}, {n_in}], got {tuple(w_in.shape)}")
        if bias is None:
            bias = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * bias_scale
        if bias.shape != (n,):
            raise ValueError(f"ESN: bias must be [{n}], got {tuple(bias.shape)}")
        self.register_buffer("w", w.to(dtype))
        self.register_buffer("w_in", w_in.to(dtype))
        self.register_buffer("bias", bias.to(dtype))
        self.leak = float(leak)
        self.activation = activation
        self.n, self.n_in = n, n_in

    def forward(self, u: Tensor, x0: Tensor | None = None) -> Tensor:
        if u.ndim != 3 or u.shape[-1] != self.n_in:
            raise ValueError(f"ESN: input must be [T, B, {self.n_in}], got {tuple(u.shape)}")
        u = u.to(self.w.dtype)
        drive = u @ self.w_in.T + self.bias  # [T, B, N], input part precomputed
        x = torch.zeros(u.shape[1], self.n, dtype=self.w.dtype, device=u.device) if x0 is None else x0
        wt = self.w.T
        out = []
        a = self.leak
        for t in range(u.shape[0]):
            pre = x @ wt + drive[t]
            act = torch.tanh(pre) if self.activation == "tanh" else pre
            x = act if a == 1.0 else (1 - a) * x + a * act
            out.append(x)
        return torch.stack(out)
