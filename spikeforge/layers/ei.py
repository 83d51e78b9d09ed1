"""Excitatory–inhibitory (E-I) circuit layer: a normalisation-free replacement for BatchNorm.

DeepEISNN (Liu, Ding, Yu; ICLR 2026, arXiv 2509.23253), as written in
``shared/reference/training_conversion_neurons.md`` §4.11. Every connection obeys Dale's law:
the layer's outputs are its excitatory (E) population; a local inhibitory (I) population of
``n_I = n_E // 4`` interneurons subtracts from (balance) and divides (gain) the E currents.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite
from ..neurons.lif import LIF
from ..surrogate import Sigmoid

__all__ = ["EIParams", "ei_current", "ei_init_params", "ei_lif", "EILinear", "build_ei_mlp", "build_plain_mlp"]


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
    ``readout=True`` (the network's output layer) returns :math:`I_{bal}` (the paper's output layer
    has no bias and no division).

    Shapes:
        ``x [*, d] -> [*, n_E]``
    """
    i_ee = x @ p.w_ee.T  # [*, d] @ [d, n_E] -> [*, n_E]
    i_ie = x @ p.w_ie.T  # [*, d] @ [d, n_I] -> [*, n_I]
    i_bal = i_ee - i_ie @ p.w_ei.T  # subtractive (balance) inhibition [*, n_E]
    if readout:
        return i_bal
    i_sh = (i_ie * p.g_i) @ p.w_ei.T  # divisive (shunting) inhibition [*, n_E]
    return p.g_e * i_bal / _nonzero_floor(i_sh) + p.b_e


def ei_init_params(x: Tensor, n_e: int, *, generator: torch.Generator | None = None) -> EIParams:
    r"""E-I Init from a batch of (non-negative) inputs ``x`` ``[*, d]``.

    With :math:`\mu_1 = E[x]`, :math:`\mu_2 = E[x^2]` over every element and :math:`v` the variance of
    each input feature over the batch (unbiased, all leading dims flattened into samples), averaged
    over the ``d`` features (the paper's ``x.var(dim=0).mean()``: between-feature spread of the means
    is not counted):

    .. math::
        W_{EE}, W_{IE} \sim \mathrm{Exponential}\Big(\text{scale} = \sqrt{v / (d(\mu_2 + v))}\Big),\quad
        W_{EI} = 1/n_I,\quad g_I = \sqrt{\mu_2 + v} / (\sqrt d\,\mu_1),\quad g_E = 1,\quad b_E = 0

    so that at init :math:`W_{EI} I_{IE}` cancels the mean of :math:`I_{EE}` and the current :math:`I`
    has mean ≈ 0 and a standard deviation of order 1 (≈ 0.8 measured on spike inputs) whatever the
    scale of ``x`` — against the LIF threshold of 1 of :func:`ei_lif`.
    """
    n_i = n_e // 4
    if n_i < 1:
        raise ValueError(f"ei_init_params: n_E must be >= 4 so that n_I = n_E // 4 >= 1, got n_E={n_e}")
    d = x.shape[-1]
    m1, m2, var = ei_input_moments(x, 1, "ei_init_params")
    scale = math.sqrt(var / (d * (m2 + var)))
    g_i = math.sqrt(m2 + var) / (math.sqrt(d) * m1)
    dt, dev = x.dtype, x.device
    return EIParams(w_ee=_exponential((n_e, d), scale, generator, x), w_ie=_exponential((n_i, d), scale, generator, x),
                    w_ei=torch.full((n_e, n_i), 1.0 / n_i, dtype=dt, device=dev),
                    g_i=torch.full((n_i,), g_i, dtype=dt, device=dev), g_e=torch.ones(n_e, dtype=dt, device=dev),
                    b_e=torch.zeros(n_e, dtype=dt, device=dev))


def ei_input_moments(x: Tensor, feature_dims: int, who: str) -> tuple[float, float, float]:
    """E-I Init's statistics of a non-negative batch ``x`` ``[*, F...]`` with ``feature_dims`` trailing
    feature dims: ``(E[x], E[x²], v)``, the first two over every element, ``v`` the unbiased variance of
    each feature over the samples (all leading dims), averaged over the features. Raises a
    ``ValueError`` naming ``who`` for an empty, integer, negative or constant batch."""
    if x.numel() == 0 or not x.is_floating_point() or x.dim() <= feature_dims:
        raise ValueError(f"{who}: expected a non-empty floating-point batch of inputs with leading sample dims")
    if bool((x < 0).any()):
        raise ValueError(f"{who}: E-I inputs must be non-negative (spikes or rates); got negative values")
    xd = x.detach().to(torch.float64)
    rows = xd.reshape(-1, *x.shape[x.dim() - feature_dims:])  # [*, F...] -> [N, F...] (time and batch flattened)
    if rows.shape[0] < 2:
        raise ValueError(f"{who}: E-I Init needs at least 2 input samples to estimate a variance")
    m1, m2, var = float(xd.mean()), float((xd * xd).mean()), float(rows.var(dim=0, correction=1).mean())
    if not (m1 > 0 and var > 0):
        raise ValueError(f"{who}: the init batch is constant (E[x]={m1:.3g}, Var[x]={var:.3g}); "
                         "E-I Init needs inputs with activity and spread (a dead or saturated layer below?)")
    return m1, m2, var


def _exponential(shape: tuple[int, ...], scale: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Exponential(mean ``scale``) samples by inversion, drawn in float64, in ``like``'s dtype and device."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return (-torch.log1p(-u) * scale).to(device=like.device, dtype=like.dtype)


class _EICircuit(nn.Module, ABC):
    """What the linear and conv E-I layers share: the ``initialized`` buffer with a host-side copy
    (so the forward pass never reads a device tensor to decide whether E-I Init must run), the
    in-place sign projection and the E-I Prop gradient hook on :math:`W_{EI}`."""

    initialized: Tensor  # buffer: E-I Init has run
    w_ee: nn.Parameter
    w_ie: nn.Parameter
    w_ei: nn.Parameter
    g_i: nn.Parameter
    g_e: nn.Parameter
    b_e: nn.Parameter

    def _setup(self, n_e: int, n_i: int, w_ee: tuple[int, ...], w_ie: tuple[int, ...], fan_in: int,
               ei_prop: bool, generator: torch.Generator | None) -> None:
        self.w_ee = nn.Parameter(torch.zeros(w_ee))
        self.w_ie = nn.Parameter(torch.zeros(w_ie))
        self.w_ei = nn.Parameter(torch.zeros(n_e, n_i))
        self.g_i = nn.Parameter(torch.zeros(n_i))
        self.g_e = nn.Parameter(torch.ones(n_e))
        self.b_e = nn.Parameter(torch.zeros(n_e))
        self.register_buffer("initialized", torch.tensor(False))
        self._init_done = False  # host copy of `initialized`, kept in step by _set_params and loading
        self._generator = generator
        if ei_prop:
            self.w_ei.register_hook(lambda g: g / fan_in)

    @torch.no_grad()
    def _set_params(self, new: tuple[Tensor, ...]) -> None:
        for dst, src in zip((self.w_ee, self.w_ie, self.w_ei, self.g_i, self.g_e, self.b_e), new):
            dst.copy_(src)
        self.initialized.fill_(True)
        self._init_done = True

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        flag = state_dict.get(prefix + "initialized")
        if flag is not None:
            self._init_done = bool(flag)

    @abstractmethod
    def ei_init_(self, x: Tensor) -> None:
        """Set every parameter by E-I Init from the batch ``x`` (each layer's own statistics)."""

    def _init_if_needed(self, xs: Tensor) -> None:
        if not self._init_done:
            self.ei_init_(xs)

    @torch.no_grad()
    def project_(self) -> None:
        """Clamp the sign-constrained parameters (all but ``b_e``) to ``>= 0`` in place."""
        for p in (self.w_ee, self.w_ie, self.w_ei, self.g_i, self.g_e):
            p.clamp_(min=0)


class EILinear(_EICircuit):
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

    def __init__(self, in_features: int, out_features: int, *, readout: bool = False, ei_prop: bool = True,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if in_features < 1 or out_features < 4:
            raise ValueError(f"EILinear: need in_features >= 1 and out_features >= 4 (n_I = n_E // 4 >= 1), "
                             f"got {in_features}, {out_features}")
        self.in_features, self.out_features, self.readout = in_features, out_features, readout
        n_i = out_features // 4
        self._setup(out_features, n_i, (out_features, in_features), (n_i, in_features), in_features, ei_prop,
                    generator)

    @property
    def params(self) -> EIParams:
        return EIParams(self.w_ee, self.w_ie, self.w_ei, self.g_i, self.g_e, self.b_e)

    @torch.no_grad()
    def ei_init_(self, x: Tensor) -> None:
        """Set every parameter by E-I Init from the batch ``x`` ``[*, d]``."""
        self._set_params(ei_init_params(x, self.out_features, generator=self._generator))

    def forward(self, xs: Tensor) -> Tensor:
        check_sequence(xs, "EILinear")
        check_finite(xs, "EILinear")
        if xs.shape[-1] != self.in_features:
            raise ValueError(f"EILinear: expected {self.in_features} input features, got shape {tuple(xs.shape)}")
        self._init_if_needed(xs)
        self.project_()
        return ei_current(xs, self.params, readout=self.readout)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, readout={self.readout}"


def ei_lif() -> LIF:
    """The paper's neuron (SpikingJelly ``LIFNode(tau=2, decay_input=False)``): ``u ← u/2 + I``, threshold 1,
    soft reset with the reset detached, sigmoid surrogate (α = 4).

    The input is *not* decayed: E-I Init standardises the current to std ≈ 1 against a threshold of 1,
    so a neuron that integrated ``I/2`` instead (``u ← u + (I − u)/2``) would see half the drive and the
    firing rate would fall layer after layer (measured at init, 8 layers of width 256 on digits:
    0.049 → 0.006 with the input decayed, 0.10–0.18 in every layer without; tools/ei_deep.py --diagnose).
    """
    return LIF.from_decay(0.5, surrogate=Sigmoid(alpha=4.0), reset="subtract", detach_reset=True)


def build_ei_mlp(in_features: int, hidden: int, depth: int, num_classes: int, *,
                 generator: torch.Generator | None = None, neuron: Callable[[], nn.Module] = ei_lif) -> nn.Sequential:
    """A ``depth``-layer E-I SNN without normalisation: ``depth − 1`` hidden ``EILinear → neuron`` blocks
    (the paper's :func:`ei_lif` by default) and an ``EILinear`` read-out (balanced current ``I_bal``).
    ``[T, B, in] -> [T, B, num_classes]``."""
    if depth < 2:
        raise ValueError(f"build_ei_mlp: depth must be >= 2 (hidden layers + read-out), got {depth}")
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(depth - 1):
        layers += [EILinear(width, hidden, generator=generator), neuron()]
        width = hidden
    layers.append(EILinear(width, num_classes, readout=True, generator=generator))
    return nn.Sequential(*layers)


def build_plain_mlp(in_features: int, hidden: int, depth: int, num_classes: int, *,
                    norm: Callable[[int], nn.Module] | None = None,
                    neuron: Callable[[], nn.Module] = ei_lif) -> nn.Sequential:
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
        layers.append(neuron())
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
