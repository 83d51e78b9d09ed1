r"""NeuroBench's Mackey–Glass echo state network, built from spikeforge parts (reference §3.6, check 21).

The network is the :class:`~.esn.ESN` update with the bias moved into the input weights as a constant
input channel, and a readout on the input-extended state:

.. math::
    x(t) = (1 - a)\,x(t-1) + a\tanh\big(W x(t-1) + W_{in}[1; u(t)]\big), \qquad
    \hat y(t) = W_{out}[1; u(t); x(t)]

``W_in [N, 1 + n_in]`` (column 0 = bias), ``W [N, N]``, ``W_out [n_out, 1 + n_in + N]`` are the three
``nn.Linear`` layers (float64, no bias), so NeuroBench's footprint, connection sparsity and synaptic
operation counts apply to them as written. :func:`neurobench_esn_weights` draws the weights in
NeuroBench's order from a ``torch.Generator`` (same numbers as its ``torch.manual_seed(seed)``
version): ``W_in = (U(0, 1) − ½)·[s_bias, s_in]``, mask ``U(0, 1) ≤ p``, N(0, 1) values on the mask
(row-major), then ``W ← ρ·W/|λ|``. NeuroBench divides by the first eigenvalue ``torch.linalg.eig`` returns
(unsorted, so the achieved radius can exceed ρ); the default here divides by ``max |λ|``.

Training (:meth:`ESNForecaster.fit`): teacher-forced states from ``x = 0``, the first ``warmup`` rows
dropped, then the normal equations :math:`(X^\top X + \alpha I)W_{out}^\top = X^\top Y` with *every*
column penalised (bias included, as NeuroBench does), solved by LU in float64 (NeuroBench: ``lstsq``,
``gelsd``). Prediction: teacher-forced (:meth:`~ESNForecaster.forward`) or autonomous
(:meth:`~ESNForecaster.generate`, each prediction is the next input).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .connectivity import spectral_radius as _max_abs_eig
from .readout import Ridge

__all__ = ["ESNForecaster", "neurobench_esn_weights", "NEUROBENCH_MG17"]

#: NeuroBench's hyperparameters for the τ = 17 Mackey–Glass series (``echo_state_network_hyperparameters.csv``,
#: reference §3.6): reservoir size, bias and input scales, connection probability, spectral radius, leak, ridge.
NEUROBENCH_MG17: dict[str, float] = {
    "n": 966, "scale_bias": 0.9, "scale_input": 0.78, "connect_prob": 0.97, "spectral_radius": 1.19,
    "leak": 0.69, "ridge": 1e-7,
}


def neurobench_esn_weights(
    n: int, n_in: int = 1, *, scale_bias: float = 1.0, scale_input: float = 1.0, connect_prob: float = 0.1,
    spectral_radius: float = 1.0, seed: int = 0, first_eigenvalue: bool = False,
) -> tuple[Tensor, Tensor]:
    """``(w_in [n, 1 + n_in], w [n, n])`` float64, drawn in NeuroBench's order (see module docstring).

    ``first_eigenvalue=True`` rescales by ``|λ₀|`` of ``torch.linalg.eig`` as NeuroBench does (unsorted);
    the default uses ``max |λ|``.
    """
    if n < 1 or n_in < 1:
        raise ValueError(f"neurobench_esn_weights: need n >= 1 and n_in >= 1, got n={n}, n_in={n_in}")
    if not 0.0 <= connect_prob <= 1.0:
        raise ValueError(f"neurobench_esn_weights: connect_prob must be in [0, 1], got {connect_prob}")
    g = torch.Generator()
    g.manual_seed(seed)
    scale = torch.tensor([scale_bias] + [scale_input] * n_in, dtype=torch.float64)
    w_in = (torch.rand(n, 1 + n_in, generator=g, dtype=torch.float64) - 0.5) * scale  # [n, 1 + n_in]
    mask = torch.rand(n, n, generator=g, dtype=torch.float64) <= connect_prob
    w = torch.zeros(n, n, dtype=torch.float64)
    w[mask] = torch.normal(0.0, 1.0, size=(int(mask.sum()),), generator=g, dtype=torch.float64)
    if first_eigenvalue:
        radius = float(torch.linalg.eig(w)[0][0].abs())
    else:
        radius = _max_abs_eig(w)
    if radius == 0.0:
        raise ValueError("neurobench_esn_weights: recurrent matrix has a zero eigenvalue scale; raise connect_prob")
    return w_in, spectral_radius * w / radius  # NeuroBench's order of operations (bit-identical weights)


def _linear(weight: Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=torch.float64)
    layer.weight.requires_grad_(False)
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


class ESNForecaster(nn.Module):
    """ESN with an input-extended ridge readout; NeuroBench's Mackey–Glass model (module docstring).

    Shapes: ``u [T, B, n_in]``, states ``[T, B, N]``, predictions ``[T, B, n_out]``.

    Example:
        >>> m = ESNForecaster.neurobench(n=20, scale_bias=0.9, scale_input=0.78, connect_prob=0.9,
        ...                              spectral_radius=1.0, leak=0.7, ridge=1e-7)
        >>> u = torch.sin(torch.arange(200, dtype=torch.float64) / 5)[:, None, None]   # [T, 1, 1]
        >>> x_last = m.fit(u[:-1], u[1:], warmup=20)                                    # next-step targets
        >>> y, _ = m.generate(10, u[-1], x_last)
        >>> y.shape
        torch.Size([10, 1, 1])
    """

    time_major = True  # profile() reads the batch size from [T, B, ...]

    def __init__(self, w_in: Tensor, w: Tensor, *, leak: float = 1.0, ridge: float = 0.0, n_out: int = 1) -> None:
        super().__init__()
        n = w.shape[0]
        if w.shape != (n, n) or w_in.ndim != 2 or w_in.shape[0] != n or w_in.shape[1] < 2:
            raise ValueError(f"ESNForecaster: need w [N, N] and w_in [N, 1 + n_in], got {tuple(w.shape)} and "
                             f"{tuple(w_in.shape)}")
        if not 0.0 < leak <= 1.0:
            raise ValueError(f"ESNForecaster: leak must be in (0, 1], got {leak}")
        if ridge < 0:
            raise ValueError(f"ESNForecaster: ridge must be >= 0, got {ridge}")
        self.n, self.n_in, self.n_out = n, w_in.shape[1] - 1, n_out
        self.leak, self.ridge = float(leak), float(ridge)
        self.w_in = _linear(w_in)
        self.w = _linear(w)
        self.readout = _linear(torch.zeros(n_out, w_in.shape[1] + n, dtype=torch.float64))

    @classmethod
    def neurobench(cls, *, n: int, n_in: int = 1, scale_bias: float, scale_input: float, connect_prob: float,
                   spectral_radius: float, leak: float, ridge: float, seed: int = 0,
                   first_eigenvalue: bool = False) -> ESNForecaster:
        """Weights from :func:`neurobench_esn_weights`; ``ESNForecaster.neurobench(**NEUROBENCH_MG17)``."""
        w_in, w = neurobench_esn_weights(n, n_in, scale_bias=scale_bias, scale_input=scale_input,
                                         connect_prob=connect_prob, spectral_radius=spectral_radius, seed=seed,
                                         first_eigenvalue=first_eigenvalue)
        return cls(w_in, w, leak=leak, ridge=ridge)

    def _check(self, u: Tensor) -> Tensor:
        if u.ndim != 3 or u.shape[-1] != self.n_in:
            raise ValueError(f"ESNForecaster: input must be [T, B, {self.n_in}], got {tuple(u.shape)}")
        return u.to(torch.float64)

    def _with_bias(self, u: Tensor) -> Tensor:
        return torch.cat([torch.ones_like(u[..., :1]), u], -1)  # [B, n_in] -> [B, 1 + n_in]

    def step(self, u: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """One step: ``u [B, n_in]``, ``x [B, N]`` -> (readout features ``[B, 1 + n_in + N]``, new ``x``)."""
        u1 = self._with_bias(u)
        x = (1 - self.leak) * x + self.leak * torch.tanh(self.w(x) + self.w_in(u1))
        return torch.cat([u1, x], -1), x

    def features(self, u: Tensor, x0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Teacher-forced readout features ``[T, B, 1 + n_in + N]`` and the last state ``[B, N]``."""
        u = self._check(u)
        x = torch.zeros(u.shape[1], self.n, dtype=torch.float64) if x0 is None else x0
        feats = []
        for t in range(u.shape[0]):
            f, x = self.step(u[t], x)
            feats.append(f)
        return torch.stack(feats), x

    @torch.no_grad()
    def fit(self, u: Tensor, y: Tensor, warmup: int = 0) -> Tensor:
        """Train the readout on ``u [T, B, n_in]`` -> ``y [T, B, n_out]``; returns the last state ``[B, N]``."""
        feats, x = self.features(u)
        if y.shape[:2] != u.shape[:2] or y.shape[-1] != self.n_out:
            raise ValueError(f"ESNForecaster.fit: targets must be [T, B, {self.n_out}] = "
                             f"{list(u.shape[:2]) + [self.n_out]}, got {tuple(y.shape)}")
        if not 0 <= warmup < u.shape[0]:
            raise ValueError(f"ESNForecaster.fit: warmup must be in [0, {u.shape[0]}), got {warmup}")
        r = Ridge(self.ridge, bias=False).fit(feats[warmup:], y[warmup:].to(torch.float64))
        assert r.weight is not None
        self.readout.weight.copy_(r.weight.T)  # [F, n_out] -> [n_out, F]
        return x

    def forward(self, u: Tensor, x0: Tensor | None = None, *, autonomous: bool = False) -> tuple[Tensor, Tensor]:
        """Predictions ``[T, B, n_out]`` and the last state ``[B, N]``, starting from ``x0`` (default 0).

        Teacher-forced: the input at step t is ``u[t]``. ``autonomous=True``: only ``u[0]`` is read, then each
        prediction is the next input (NeuroBench's test mode; needs ``n_out == n_in``).
        """
        u = self._check(u)
        if autonomous and self.n_out != self.n_in:
            raise ValueError(f"ESNForecaster: autonomous mode needs n_out == n_in, got {self.n_out} and {self.n_in}")
        x = torch.zeros(u.shape[1], self.n, dtype=torch.float64) if x0 is None else x0
        inp, out = u[0], []
        for t in range(u.shape[0]):
            f, x = self.step(inp if autonomous or t == 0 else u[t], x)
            y = self.readout(f)
            out.append(y)
            inp = y if autonomous else inp
        return torch.stack(out), x

    def generate(self, steps: int, u0: Tensor, x0: Tensor) -> tuple[Tensor, Tensor]:
        """Autonomous forecast of ``steps`` steps from the first input ``u0 [B, n_in]`` and state ``x0``."""
        if steps < 1 or u0.ndim != 2:
            raise ValueError(f"ESNForecaster.generate: need steps >= 1 and u0 [B, n_in], got {steps}, "
                             f"{tuple(u0.shape)}")
        return self(u0[None].expand(steps, *u0.shape), x0, autonomous=True)  # [B, n_in] -> [steps, B, n_in]
