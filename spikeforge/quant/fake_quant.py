r"""Weight fake-quantization with straight-through estimators (STE).

A *weight quantizer* is a frozen dataclass with two methods:

- ``q(w, step=None)``: the fake-quantized weight (float, on the quantizer's grid). The forward
  pass sees :math:`q(w)`; the backward pass treats the rounding as the identity,
  :math:`w_q = w + \mathrm{sg}(q(w) - w)` (``sg`` = stop-gradient), with the gradient masked
  to zero where a clip saturates (LSQ) and flowing into a learnable step where there is one.
- ``to_int(w, step=None) -> IntWeight``: the same grid as integers, with
  :math:`q(w) = (\mathrm{int} - \mathrm{zero\_point})\cdot\mathrm{scale}` exactly (float32).

Quantizers (reference ``training_conversion_neurons.md`` §3.1):

- :class:`IntQuant` ``(bits, symmetric, per_channel)`` — symmetric:
  :math:`s = \max|W|/(2^{k-1}-1)`, :math:`q = s\,\mathrm{clamp}(\mathrm{round}(W/s), -(2^{k-1}-1), 2^{k-1}-1)`;
  asymmetric: :math:`s = (\max W - \min W)/(2^k-1)`, :math:`z = \mathrm{round}(-\min W/s)`,
  :math:`q = s\,(\mathrm{clamp}(\mathrm{round}(W/s)+z, 0, 2^k-1) - z)`. Per channel: the max/min
  are taken per output channel (dim 0) and the scale broadcasts over the other dims.
- :class:`LSQ` ``(bits, per_channel)`` — the same symmetric grid with a *learnable* step
  :math:`s` (Esser et al., ICLR 2020 — recalled, not in the reference: init
  :math:`s = 2\,\mathrm{mean}|W|/\sqrt{Q_p}`, step gradient scaled by :math:`1/\sqrt{N Q_p}`).
- :class:`BinaryQuant` — :math:`q = \alpha\,\mathrm{sign}(w)`, :math:`\alpha` = mean|w| per output channel.
- :class:`TernaryQuant` — absmean (BitNet b1.58): :math:`\gamma = \max(\mathrm{mean}|W|, 10^{-5})`
  per tensor, :math:`q = \gamma\,\mathrm{clamp}(\mathrm{round}(W/\gamma), -1, 1)`.
- :class:`TWNQuant` — ternary weight networks: :math:`\Delta = 0.7\,\mathrm{mean}|w|`,
  :math:`\alpha` = mean of :math:`|w|` over :math:`|w| > \Delta`, :math:`q = \alpha\,\mathrm{sign}(w)\,[|w|>\Delta]`.

Example:
    >>> w = torch.tensor([[0.5, -1.0, 0.26], [0.1, 0.0, -0.2]])
    >>> TernaryQuant().to_int(w).values             # q(w) = values * mean|w|
    tensor([[ 1, -1,  1],
            [ 0,  0, -1]], dtype=torch.int8)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from .._registry import Registry

__all__ = ["QUANTIZERS", "BinaryQuant", "IntQuant", "IntWeight", "LSQ", "TWNQuant", "TernaryQuant",
           "WeightQuantizer", "grad_scale", "round_ste", "ste"]

_EPS = 1e-8  # smallest scale: an all-zero weight quantizes to zeros, not NaN


def ste(w: Tensor, q: Tensor) -> Tensor:
    """Straight-through estimator: exactly the value of ``q``, the gradient of ``w`` (identity).

    Written ``q + (w - w)`` with only the first term detached, so the value is ``q`` bit for bit
    (``w + (q - w)`` can be off by a rounding)."""
    return q.detach() + (w - w.detach())


def round_ste(x: Tensor) -> Tensor:
    """``round(x)`` in the forward pass, identity in the backward pass."""
    return ste(x, torch.round(x))


def grad_scale(x: Tensor, g: float) -> Tensor:
    """The value of ``x`` with its gradient multiplied by ``g``."""
    return ste(x * g, x)  # value x (exactly), gradient g


class IntWeight(NamedTuple):
    """An integer weight: ``w ≈ (values - zero_point) * scale``.

    ``values`` int8 (bits <= 8) or int32; ``scale`` and ``zero_point`` broadcast to ``values``
    (shape ``[]`` per tensor, ``[C_out, 1, ...]`` per channel); ``bits`` the word size.
    """

    values: Tensor
    scale: Tensor
    zero_point: Tensor
    bits: float

    def dequantize(self) -> Tensor:
        """The float weight ``(values - zero_point) * scale`` (float32)."""
        return (self.values.float() - self.zero_point.float()) * self.scale.float()


def _int_dtype(bits: float) -> torch.dtype:
    return torch.int8 if bits <= 8 else torch.int32


def _per_channel_reduce(w: Tensor, fn: Any) -> Tensor:
    """``fn`` over every dim but the output channel (dim 0), kept for broadcasting: ``[C, 1, ...]``."""
    if w.dim() < 2:
        raise ValueError(f"per-channel quantization needs a weight with an output-channel dim, got shape "
                         f"{tuple(w.shape)}")
    flat = w.reshape(w.shape[0], -1)  # [C_out, fan_in]
    return fn(flat, dim=1).reshape(w.shape[0], *([1] * (w.dim() - 1)))  # [C_out, 1, ...]


def _absmax(w: Tensor, per_channel: bool) -> Tensor:
    if per_channel:
        return _per_channel_reduce(w.abs(), lambda t, dim: t.amax(dim=dim))
    return w.abs().amax()


def _absmean(w: Tensor, per_channel: bool) -> Tensor:
    if per_channel:
        return _per_channel_reduce(w.abs(), lambda t, dim: t.mean(dim=dim))
    return w.abs().mean()


def _check_weight(w: Tensor, who: str) -> None:
    if not isinstance(w, Tensor) or not w.is_floating_point():
        raise TypeError(f"{who}: expected a floating-point weight tensor, got "
                        f"{type(w).__name__ if not isinstance(w, Tensor) else w.dtype}")
    if w.numel() == 0:
        raise ValueError(f"{who}: cannot quantize an empty weight of shape {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()):
        raise ValueError(f"{who}: the weight holds NaN/inf; cannot choose a quantization scale")


class WeightQuantizer:
    """Base of the weight quantizers (frozen dataclasses). ``learnable``: whether the QAT layer
    must hold a trainable step (:meth:`init_step`) and pass it to :meth:`q` and :meth:`to_int`."""

    learnable: ClassVar[bool] = False
    bits: float

    def init_step(self, w: Tensor) -> Tensor | None:
        """Initial learnable step for ``w`` (``None``: the grid is a function of ``w`` alone)."""
        return None

    def q(self, w: Tensor, step: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def to_int(self, w: Tensor, step: Tensor | None = None) -> IntWeight:
        raise NotImplementedError

    def __call__(self, w: Tensor, step: Tensor | None = None) -> Tensor:
        return self.q(w, step)


QUANTIZERS: Registry[type[WeightQuantizer]] = Registry("weight quantizer")
"""Registry of weight quantizers (``QUANTIZERS.create("int", bits=4)``)."""


@QUANTIZERS.register("int")
@dataclass(frozen=True)
class IntQuant(WeightQuantizer):
    """Uniform ``bits``-bit weights, symmetric (restricted range ±(2^{k-1}-1)) or asymmetric
    (``0 .. 2^k-1`` with a zero point), per tensor or per output channel; scale from the
    weight's own max/min (no clipping, so the STE is the plain identity)."""

    bits: int = 8
    symmetric: bool = True
    per_channel: bool = False

    def __post_init__(self) -> None:
        lo = 2 if self.symmetric else 1
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or not lo <= self.bits <= 16:
            raise ValueError(f"IntQuant: bits must be an int in [{lo}, 16] "
                             f"({'symmetric' if self.symmetric else 'asymmetric'}), got {self.bits!r}"
                             + ("; use BinaryQuant for 1 bit" if self.symmetric and self.bits == 1 else ""))

    def _grid(self, w: Tensor) -> tuple[Tensor, Tensor, int, int]:
        """``(scale, zero_point, q_min, q_max)`` for ``w``, computed without gradient."""
        w = w.detach()
        if self.symmetric:
            qmax = 2 ** (self.bits - 1) - 1
            scale = (_absmax(w, self.per_channel) / qmax).clamp_min(_EPS)
            return scale, torch.zeros_like(scale), -qmax, qmax
        qmax = 2 ** self.bits - 1
        if self.per_channel:
            hi = _per_channel_reduce(w, lambda t, dim: t.amax(dim=dim))
            lo = _per_channel_reduce(w, lambda t, dim: t.amin(dim=dim))
        else:
            hi, lo = w.amax(), w.amin()
        hi, lo = hi.clamp_min(0.0), lo.clamp_max(0.0)  # the grid holds 0 exactly
        scale = ((hi - lo) / qmax).clamp_min(_EPS)
        zero = torch.round(-lo / scale).clamp(0, qmax)
        return scale, zero, 0, qmax

    def q(self, w: Tensor, step: Tensor | None = None) -> Tensor:
        _check_weight(w, "IntQuant")
        scale, zero, lo, hi = self._grid(w)
        return ste(w, (torch.clamp(torch.round(w.detach() / scale) + zero, lo, hi) - zero) * scale)

    def to_int(self, w: Tensor, step: Tensor | None = None) -> IntWeight:
        _check_weight(w, "IntQuant")
        scale, zero, lo, hi = self._grid(w)
        values = torch.clamp(torch.round(w.detach() / scale) + zero, lo, hi)
        dtype = _int_dtype(self.bits) if self.symmetric else (torch.uint8 if self.bits <= 8 else torch.int32)
        return IntWeight(values.to(dtype), scale, zero.to(torch.int32), self.bits)


@QUANTIZERS.register("lsq")
@dataclass(frozen=True)
class LSQ(WeightQuantizer):
    """Symmetric ``bits``-bit grid with a learnable step (LSQ); the QAT layer owns the step
    parameter (``init_step``), per tensor (shape ``[]``) or per output channel (``[C, 1, ...]``).

    The gradient reaches ``w`` inside the clip range only, and the step through the rounding
    residual and the clipped values, scaled by ``1/sqrt(numel_per_step * Q_p)``.
    """

    learnable: ClassVar[bool] = True
    bits: int = 4
    per_channel: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or not 2 <= self.bits <= 16:
            raise ValueError(f"LSQ: bits must be an int in [2, 16], got {self.bits!r}")

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1

    def init_step(self, w: Tensor) -> Tensor:
        _check_weight(w, "LSQ")
        return (2 * _absmean(w.detach(), self.per_channel) / math.sqrt(self.qmax)).clamp_min(_EPS)

    def _step(self, w: Tensor, step: Tensor | None) -> Tensor:
        if step is None:
            raise ValueError("LSQ needs its learnable step: use it through a QAT layer (QuantLinear, "
                             "quantize_model) or pass step=LSQ.init_step(w)")
        if bool((step.detach() <= 0).any()):
            raise ValueError(f"LSQ: the step must be > 0, got min {step.detach().min().item():g}")
        return step

    def q(self, w: Tensor, step: Tensor | None = None) -> Tensor:
        _check_weight(w, "LSQ")
        s = self._step(w, step)
        per_step = w.numel() // max(s.numel(), 1)
        s = grad_scale(s, 1.0 / math.sqrt(per_step * self.qmax))
        return round_ste(torch.clamp(w / s, -self.qmax, self.qmax)) * s

    def to_int(self, w: Tensor, step: Tensor | None = None) -> IntWeight:
        _check_weight(w, "LSQ")
        s = self._step(w, step).detach()
        values = torch.round(torch.clamp(w.detach() / s, -self.qmax, self.qmax))
        return IntWeight(values.to(_int_dtype(self.bits)), s, torch.zeros_like(s, dtype=torch.int32), self.bits)


@QUANTIZERS.register("binary")
@dataclass(frozen=True)
class BinaryQuant(WeightQuantizer):
    """``alpha * sign(w)`` with ``alpha = mean|w|`` per output channel (``sign(0) = +1``)."""

    bits: int = 1

    def _alpha_sign(self, w: Tensor) -> tuple[Tensor, Tensor]:
        w = w.detach()
        alpha = _absmean(w, w.dim() >= 2).clamp_min(_EPS)
        return alpha, torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

    def q(self, w: Tensor, step: Tensor | None = None) -> Tensor:
        _check_weight(w, "BinaryQuant")
        alpha, sign = self._alpha_sign(w)
        return ste(w, alpha * sign)

    def to_int(self, w: Tensor, step: Tensor | None = None) -> IntWeight:
        _check_weight(w, "BinaryQuant")
        alpha, sign = self._alpha_sign(w)
        return IntWeight(sign.to(torch.int8), alpha, torch.zeros_like(alpha, dtype=torch.int32), 1)


@QUANTIZERS.register("ternary")
@dataclass(frozen=True)
class TernaryQuant(WeightQuantizer):
    """Absmean ternary weights (BitNet b1.58, MatMul-free LM): ``gamma * clamp(round(w/gamma), -1, 1)``,
    ``gamma = max(mean|W|, 1e-5)`` per tensor. Not idempotent: re-quantizing changes ``gamma``
    (the zeros lower the mean) but keeps the signs."""

    bits: float = math.log2(3)

    def _gamma(self, w: Tensor) -> Tensor:
        return w.detach().abs().mean().clamp_min(1e-5)

    def q(self, w: Tensor, step: Tensor | None = None) -> Tensor:
        _check_weight(w, "TernaryQuant")
        g = self._gamma(w)
        return ste(w, torch.clamp(torch.round(w.detach() / g), -1, 1) * g)

    def to_int(self, w: Tensor, step: Tensor | None = None) -> IntWeight:
        _check_weight(w, "TernaryQuant")
        g = self._gamma(w)
        values = torch.clamp(torch.round(w.detach() / g), -1, 1)
        return IntWeight(values.to(torch.int8), g, torch.zeros((), dtype=torch.int32), self.bits)


@QUANTIZERS.register("twn")
@dataclass(frozen=True)
class TWNQuant(WeightQuantizer):
    """Ternary weight networks: threshold ``0.7 mean|w|``, scale = mean |w| above it, per tensor."""

    bits: float = math.log2(3)

    def _grid(self, w: Tensor) -> tuple[Tensor, Tensor]:
        w = w.detach()
        delta = 0.7 * w.abs().mean()
        keep = w.abs() > delta
        alpha = (w.abs() * keep).sum() / keep.sum().clamp_min(1)
        return alpha.clamp_min(_EPS), torch.sign(w) * keep

    def q(self, w: Tensor, step: Tensor | None = None) -> Tensor:
        _check_weight(w, "TWNQuant")
        alpha, t = self._grid(w)
        return ste(w, alpha * t)

    def to_int(self, w: Tensor, step: Tensor | None = None) -> IntWeight:
        _check_weight(w, "TWNQuant")
        alpha, t = self._grid(w)
        return IntWeight(t.to(torch.int8), alpha, torch.zeros((), dtype=torch.int32), self.bits)
