"""Excitatory–inhibitory (E-I) circuit layer: a normalisation-free replacement for BatchNorm.

DeepEISNN (Liu, Ding, Yu; ICLR 2026, arXiv 2509.23253), as written in
``shared/reference/training_conversion_neurons.md`` §4.11. Every connection obeys Dale's law:
the layer's outputs are its excitatory (E) population; a local inhibitory (I) population of
``n_I = n_E // 4`` interneurons subtracts from (balance) and divides (gain) the E currents.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..neurons.lif import LIF
from ..surrogate import Sigmoid

__all__ = ["EIParams", "ei_current", "ei_init_params", "EILinear", "build_ei_mlp", "build_plain_mlp"]


class EIParams(NamedTuple):
    w_ee: Tensor  # E <- input weights [n_E, d], >= 0
    w_ie: Tensor  # I <- input weights [n_I, d], >= 0
    w_ei: Tensor  # E <- I inhibitory weights [n_E, n_I], >= 0 (enter with a minus sign)
    g_i: Tensor   # divisive gain of each interneuron [n_I], >= 0
    g_e: Tensor   # output gain of each E neuron [n_E], >= 0
    b_e: Tensor   # E bias [n_E]


def _nonzero_floor(i_sh: Tensor) -> Tensor:
    """``i_sh`` with each exact zero replaced by its sample's smallest non-zero entry (forward only).

    The gradient passes straight through (STE), as in the reference. A sample whose entries are all
    zero gets 1 there (the reference does not say; then ``I_bal`` is the E drive itself, unscaled).
    """
    zero = i_sh == 0
    big = torch.full_like(i_sh, math.inf)
    floor = torch.where(zero, big, i_sh).amin(dim=-1, keepdim=True)  # [..., 1] smallest non-zero per sample
    floor = torch.where(torch.isinf(floor), torch.ones_like(floor), floor)
    filled = torch.where(zero, floor.expand_as(i_sh), i_sh)
    return i_sh + (filled - i_sh).detach()


def ei_current(x: Tensor, p: EIParams, *, readout: bool = False) -> Tensor:
    r"""Input current of the E population from a non-negative input ``x``.

    .. math::
        I_{EE} = W_{EE}\,x,\quad I_{IE} = W_{IE}\,x,\quad
        I_{bal} = I_{EE} - W_{EI}\,I_{IE},\quad I_{sh} = W_{EI}\,(g_I \odot I_{IE}),\quad
        I = g_E \odot I_{bal} / I_{sh} + b_E

    with every weight and gain :math:`\ge 0` (Dale's law). Zeros of :math:`I_{sh}` are replaced by
    the sample's smallest non-zero value in the forward pass only (straight-through). With
    :math:`b_E = 0`, :math:`I(\alpha x) = I(x)` for every :math:`\alpha > 0` (check 24): the
    layer normalises its input's scale, which is what makes BatchNorm unnecessary.
    ``readout=True`` (the network's output layer) returns :math:`I_{bal} + b_E`.

    Shapes:
        ``x [*, d] -> [*, n_E]``
    """
    i_ee = x @ p.w_ee.T  # [*, d] @ [d, n_E] -> [*, n_E]
    i_ie = x @ p.w_ie.T  # [*, d] @ [d, n_I] -> [*, n_I]
    i_bal = i_ee - i_ie @ p.w_ei.T  # subtractive (balance) inhibition [*, n_E]
    if readout:
        return i_bal + p.b_e
    i_sh = (i_ie * p.g_i) @ p.w_ei.T  # divisive (shunting) inhibition [*, n_E]
    return p.g_e * i_bal / _nonzero_floor(i_sh) + p.b_e


def ei_init_params(x: Tensor, n_e: int, *, generator: torch.Generator | None = None) -> EIParams:
    r"""E-I Init from a batch of (non-negative) inputs ``x`` ``[*, d]``.

    With :math:`\mu_1 = E[x]`, :math:`\mu_2 = E[x^2]`, :math:`v = \mathrm{Var}[x]` over every element:

    .. math::
        W_{EE}, W_{IE} \sim \mathrm{Exponential}\Big(\text{scale} = \sqrt{v / (d(\mu_2 + v))}\Big),\quad
        W_{EI} = 1/n_I,\quad g_I = \sqrt{\mu_2 + v} / (\sqrt d\,\mu_1),\quad g_E = 1,\quad b_E = 0

    so that at init :math:`\mathrm{Var}[I_{EE}] = v` and :math:`W_{EI} I_{IE}` cancels the mean of
    :math:`I_{EE}`, :math:`I_{sh} \approx \sqrt v` and the current :math:`I` has mean ≈ 0 and
    variance ≈ 1 whatever the scale of ``x``.
    """
    if x.numel() == 0 or not x.is_floating_point():
        raise ValueError("ei_init_params: expected a non-empty floating-point batch of inputs")
    if bool((x < 0).any()):
        raise ValueError("ei_init_params: E-I inputs must be non-negative (spikes or rates); got negative values")
    d = x.shape[-1]
    n_i = n_e // 4
    if n_i < 1:
        raise ValueError(f"ei_init_params: n_E must be >= 4 so that n_I = n_E // 4 >= 1, got n_E={n_e}")
    xd = x.detach().to(torch.float64)
    m1, m2, var = xd.mean(), (xd * xd).mean(), xd.var(correction=0)
    if not (m1 > 0 and var > 0):
        raise ValueError(f"ei_init_params: the init batch is constant (E[x]={float(m1):.3g}, Var[x]={float(var):.3g}); "
                         "E-I Init needs inputs with activity and spread (a dead or saturated layer below?)")
    scale = float(torch.sqrt(var / (d * (m2 + var))))
    g_i = float(torch.sqrt(m2 + var) / (math.sqrt(d) * m1))
    dt, dev = x.dtype, x.device

    def expo(*shape: int) -> Tensor:  # Exponential(rate 1) by inversion, then scaled
        u = torch.rand(shape, generator=generator, dtype=torch.float64)
        return (-torch.log1p(-u) * scale).to(device=dev, dtype=dt)

    return EIParams(w_ee=expo(n_e, d), w_ie=expo(n_i, d), w_ei=torch.full((n_e, n_i), 1.0 / n_i, dtype=dt, device=dev),
                    g_i=torch.full((n_i,), g_i, dtype=dt, device=dev), g_e=torch.ones(n_e, dtype=dt, device=dev),
                    b_e=torch.zeros(n_e, dtype=dt, device=dev))


class EILinear(nn.Module):
    """Linear E-I circuit: ``[T, B, d]`` non-negative inputs -> ``[T, B, n_E]`` currents (:func:`ei_current`).

    The parameters are initialised by E-I Init (:func:`ei_init_params`) from the first batch the
    layer sees (or explicitly with :meth:`ei_init_`); until then they are empty-valued and the
    ``initialized`` buffer is false. Before every forward the sign-constrained parameters are
    projected onto ``>= 0`` in place (the reference's clamp); :meth:`project_` does it on demand,
    e.g. right after an optimizer step. With ``ei_prop=True`` (E-I Prop) the gradient of
    :math:`W_{EI}` is divided by the input size ``d``.

    Example:
        >>> layer = EILinear(8, 16)
        >>> layer(torch.rand(5, 4, 8)).shape
        torch.Size([5, 4, 16])
    """

    initialized: Tensor  # buffer: E-I Init has run

    def __init__(self, in_features: int, out_features: int, *, readout: bool = False, ei_prop: bool = True,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if in_features < 1 or out_features < 4:
            raise ValueError(f"EILinear: need in_features >= 1 and out_features >= 4 (n_I = n_E // 4 >= 1), "
                             f"got {in_features}, {out_features}")
        self.in_features, self.out_features, self.readout = in_features, out_features, readout
        n_i = out_features // 4
        self.w_ee = nn.Parameter(torch.zeros(out_features, in_features))
        self.w_ie = nn.Parameter(torch.zeros(n_i, in_features))
        self.w_ei = nn.Parameter(torch.zeros(out_features, n_i))
        self.g_i = nn.Parameter(torch.zeros(n_i))
        self.g_e = nn.Parameter(torch.ones(out_features))
        self.b_e = nn.Parameter(torch.zeros(out_features))
        self.register_buffer("initialized", torch.tensor(False))
        self._generator = generator
        if ei_prop:
            self.w_ei.register_hook(lambda g: g / in_features)

    @property
    def params(self) -> EIParams:
        return EIParams(self.w_ee, self.w_ie, self.w_ei, self.g_i, self.g_e, self.b_e)

    @torch.no_grad()
    def ei_init_(self, x: Tensor) -> None:
        """Set every parameter by E-I Init from the batch ``x`` ``[*, d]``."""
        for dst, src in zip(self.params, ei_init_params(x, self.out_features, generator=self._generator)):
            dst.copy_(src)
        self.initialized.fill_(True)

    @torch.no_grad()
    def project_(self) -> None:
        """Clamp the sign-constrained parameters (all but ``b_e``) to ``>= 0`` in place."""
        for p in (self.w_ee, self.w_ie, self.w_ei, self.g_i, self.g_e):
            p.clamp_(min=0)

    def forward(self, xs: Tensor) -> Tensor:
        check_sequence(xs, "EILinear")
        if xs.shape[-1] != self.in_features:
            raise ValueError(f"EILinear: expected {self.in_features} input features, got shape {tuple(xs.shape)}")
        if not bool(self.initialized):
            self.ei_init_(xs)
        self.project_()
        return ei_current(xs, self.params, readout=self.readout)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, readout={self.readout}"


def _lif() -> LIF:
    """The reference's neuron: LIF τ = 2 steps (``u ← u + (x − u)/2``), soft reset, detached reset,
    sigmoid surrogate (α = 4)."""
    return LIF(tau_mem=2e-3, dt=1e-3, surrogate=Sigmoid(alpha=4.0), reset="subtract", detach_reset=True)


def build_ei_mlp(in_features: int, hidden: int, depth: int, num_classes: int, *,
                 generator: torch.Generator | None = None) -> nn.Sequential:
    """A ``depth``-layer E-I SNN without normalisation: ``depth − 1`` hidden ``EILinear → LIF`` blocks
    and an ``EILinear`` read-out (balanced current ``I_bal``). ``[T, B, in] -> [T, B, num_classes]``."""
    if depth < 2:
        raise ValueError(f"build_ei_mlp: depth must be >= 2 (hidden layers + read-out), got {depth}")
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(depth - 1):
        layers += [EILinear(width, hidden, generator=generator), _lif()]
        width = hidden
    layers.append(EILinear(width, num_classes, readout=True, generator=generator))
    return nn.Sequential(*layers)


def build_plain_mlp(in_features: int, hidden: int, depth: int, num_classes: int, *,
                    norm: Callable[[int], nn.Module] | None = None) -> nn.Sequential:
    """The same stack with ``nn.Linear`` (PyTorch's default init) and, optionally, a norm layer after
    each hidden linear (e.g. ``TDBatchNorm``): the baselines E-I is compared against."""
    if depth < 2:
        raise ValueError(f"build_plain_mlp: depth must be >= 2, got {depth}")
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(depth - 1):
        layers.append(nn.Linear(width, hidden))
        if norm is not None:
            layers.append(norm(hidden))
        layers.append(_lif())
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
