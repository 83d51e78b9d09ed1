"""Event-driven linear layer: for spike inputs, add up the weight columns of the active inputs.

A dense ``x @ W.T`` costs ``K * N`` multiply-adds per input row whatever ``x`` holds. With spike
inputs at firing rate ``r``, only ``r * K`` columns of ``W`` contribute, so gathering and adding
those columns costs ``r * K * N`` adds. The event path wins below a crossover rate measured by
``python -m spikeforge.bench --only event_linear`` (about 30 % on a 2-core x86 VM, see
BENCHMARKS.md); :class:`EventLinear` measures the rate of each batch and takes the event path only
below ``crossover``. Results equal the dense layer up to float summation order.

Training works too: the weight gradient ``grad_y^T x`` is also accumulated over the active inputs
only (``r`` times the dense cost); the input gradient ``grad_y W``, when needed, is dense.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..kernels import BackendUnavailableError
from ..kernels._build import load_library
from ..kernels._policy import fused_available
from ..kernels.cpu import _empty, threads_for
from ..numerics import check_finite, check_finite_enabled, first_nonfinite

__all__ = ["EventLinear", "event_linear", "event_linear_grad_weight", "input_rate", "DEFAULT_CROSSOVER",
           "MIN_EVENT_OUT"]

DEFAULT_CROSSOVER = 0.2  # auto event path at or below this rate (measured inference crossover ~29 %, BENCHMARKS.md)
MIN_EVENT_OUT = 64  # below this many outputs the dense matmul wins at any rate (one SIMD tile per input)


_FLOATS = (torch.float32, torch.float64)
_BYTES = (torch.uint8, torch.bool)  # spike storage read directly (1 byte per input, no float copy)


def _spike_input(x: Tensor, K: int, dtype: torch.dtype) -> tuple[Tensor, str]:
    """``x`` as a contiguous ``[rows, K]`` kernel operand and the kernel-name suffix for it."""
    if x.device.type != "cpu" or (x.dtype not in _FLOATS and x.dtype not in _BYTES):
        raise BackendUnavailableError("event_linear runs on CPU float32/float64 (or uint8/bool spike) tensors")
    if dtype not in _FLOATS:
        raise BackendUnavailableError(f"event_linear computes in float32/float64, got {dtype}")
    if x.shape[-1] != K:
        raise ValueError(f"input has {x.shape[-1]} features, weight expects {K}")
    x2 = x.reshape(-1, K).contiguous()  # [rows, K]
    if x2.dtype == torch.bool:
        x2 = x2.view(torch.uint8)  # same bytes (0/1)
    suf = "f32" if dtype == torch.float32 else "f64"
    return x2, (suf if x2.dtype in _FLOATS else "u8_" + suf)


def event_linear(x: Tensor, weight_t: Tensor, bias: Tensor | None = None) -> Tensor:
    r"""``y = x W^T + b`` by accumulating rows of ``weight_t = W^T`` for the nonzero inputs.

    .. math:: y_{r,:} = b + \sum_{k:\,x_{r,k} \ne 0} x_{r,k}\, W^T_{k,:}

    Each output starts at the bias (or 0) and adds the active inputs' terms in increasing input
    index ``k``, one rounding per addition: the result is exactly that sequential sum, and equals
    the dense ``x @ W.T + b`` up to float summation order.

    Args:
        x: Input ``[*, K]`` (spikes, or any mostly-zero tensor); CPU float32/float64, or spikes
            stored as uint8/bool (read directly; the result then has ``weight_t``'s dtype).
        weight_t: Transposed weight ``[K, N]``, contiguous.
        bias: Optional ``[N]``.

    Returns:
        ``[*, N]``. Raises :class:`~spikeforge.kernels.BackendUnavailableError` without a compiler.
    """
    lib = load_library()
    K, N = weight_t.shape
    dtype = x.dtype if x.dtype in _FLOATS else weight_t.dtype
    x2, suf = _spike_input(x, K, dtype)
    wt = weight_t.to(dtype).contiguous()
    b = None if bias is None else bias.to(dtype).contiguous()
    y = _empty((x2.shape[0], N), dtype)
    getattr(lib, f"sf_event_linear_{suf}")(x2.shape[0], K, N, x2.data_ptr(), wt.data_ptr(),
                                          None if b is None else b.data_ptr(), y.data_ptr(),
                                          threads_for(x2.numel()))
    return y.reshape(*x.shape[:-1], N)  # [*, N]


def event_linear_grad_weight(x: Tensor, grad_y: Tensor) -> Tensor:
    """``grad_W = grad_y^T x`` accumulated over the nonzero inputs only; returns ``[N, K]``.

    ``x`` may be float32/float64 or uint8/bool spikes; the result has ``grad_y``'s dtype.
    """
    lib = load_library()
    K, N = x.shape[-1], grad_y.shape[-1]
    x2, suf = _spike_input(x, K, grad_y.dtype)
    if x2.dtype in _FLOATS and x2.dtype != grad_y.dtype:
        x2 = x2.to(grad_y.dtype)
    g2 = grad_y.reshape(-1, N).contiguous()  # [rows, N]
    gwt = _empty((K, N), grad_y.dtype)
    getattr(lib, f"sf_event_linear_grad_w_{suf}")(x2.shape[0], K, N, x2.data_ptr(), g2.data_ptr(), gwt.data_ptr(),
                                                 threads_for(x2.numel()))
    return gwt.t()  # [N, K]


class _EventLinearFn(torch.autograd.Function):
    """Event-driven forward and weight gradient; the input gradient (if needed) is dense."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, weight_t: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return event_linear(x, weight_t, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy: Tensor):
        x, weight = ctx.saved_tensors
        # small, long-lived gradients (they become .grad) before the large input gradient
        gw = event_linear_grad_weight(x, gy) if ctx.needs_input_grad[1] else None
        gb = gy.reshape(-1, gy.shape[-1]).sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        gx = gy @ weight if ctx.needs_input_grad[0] else None  # [*, N] @ [N, K] -> [*, K]
        return gx, gw, gb, None


def input_rate(x: Tensor, max_samples: int = 1 << 16) -> float:
    """Fraction of nonzero entries of ``x``, estimated on an evenly strided sample of at most
    ``max_samples`` entries (a full count would cost as much as the event path itself)."""
    flat = x.reshape(-1)
    step = max(1, flat.numel() // max_samples)
    sample = flat[::step]
    return float(torch.count_nonzero(sample)) / max(sample.numel(), 1)


class EventLinear(nn.Linear):
    """``nn.Linear`` that switches to the event-driven path for sparse inputs at inference.

    Args:
        in_features, out_features, bias, device, dtype: as ``nn.Linear``.
        mode: ``"auto"`` (event path when the measured input rate is below ``crossover`` and the
            layer has at least :data:`MIN_EVENT_OUT` outputs; narrower layers are faster dense),
            ``"dense"`` or ``"event"`` (always; raises if unavailable).
        crossover: Firing rate below which ``"auto"`` takes the event path.

    Inputs may be float spikes or spikes stored as uint8/bool (0/1), which the event path reads
    directly (no float copy of the input is made; the dense path converts them).

    Example:
        >>> fc = EventLinear(700, 256)
        >>> with torch.no_grad():
        ...     y = fc((torch.rand(100, 64, 700) < 0.03).float())   # event path
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, mode: str = "auto",
                 crossover: float = DEFAULT_CROSSOVER, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        if mode not in ("auto", "dense", "event"):
            raise ValueError(f"mode must be 'auto', 'dense' or 'event', got {mode!r}")
        if not 0.0 <= float(crossover) <= 1.0:
            raise ValueError(f"crossover must be a rate in [0, 1], got {crossover!r}")
        self.mode = mode
        self.crossover = float(crossover)
        self._wt_cache: tuple[int, int, Tensor] | None = None  # (data_ptr, version, W^T)

    def _weight_t(self) -> Tensor:
        key = (self.weight.data_ptr(), self.weight._version)
        if self._wt_cache is None or self._wt_cache[:2] != key:
            self._wt_cache = (*key, self.weight.detach().t().contiguous())
        return self._wt_cache[2]

    def uses_event_path(self, x: Tensor) -> bool:
        """Whether :meth:`forward` would take the event path for ``x``."""
        if self.mode == "dense":
            return False
        if self.mode == "event":
            return True
        if x.device.type != "cpu" or (x.dtype not in _FLOATS and x.dtype not in _BYTES):
            return False
        if self.weight.dtype not in _FLOATS:
            return False
        if self.out_features < MIN_EVENT_OUT:
            return False
        if not fused_available():  # warns once if the kernels cannot load; False with SPIKEFORGE_BACKEND=torch
            return False
        return input_rate(x) <= self.crossover

    def check_input(self, x: Tensor) -> None:
        """Raise naming the problem unless ``x`` is a ``[*, in_features]`` float tensor of the
        weight's dtype or 0/1 spikes stored as uint8/bool."""
        if not isinstance(x, Tensor):
            raise TypeError(f"EventLinear: expected a torch.Tensor [*, {self.in_features}], got {type(x).__name__}")
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"EventLinear: expected {self.in_features} input features on the last dim, "
                             f"got input of shape {tuple(x.shape)}")
        if x.dtype in _BYTES:
            return
        if not x.is_floating_point():
            raise TypeError(f"EventLinear: expected a floating-point input (or uint8/bool spikes), got dtype "
                            f"{x.dtype}; cast with x.to({self.weight.dtype})")
        if x.dtype != self.weight.dtype:
            raise TypeError(f"EventLinear: input dtype {x.dtype} does not match the weight dtype {self.weight.dtype}; "
                            f"cast the input with x.to({self.weight.dtype}) or the layer with .to({x.dtype})")

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        y = self._forward(x)
        if check_finite_enabled():
            self._check_finite(x, y)
        return y

    def _forward(self, x: Tensor) -> Tensor:
        if self.uses_event_path(x):
            if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad
                                            or (self.bias is not None and self.bias.requires_grad)):
                return _EventLinearFn.apply(x, self.weight, self.bias, self._weight_t())
            return event_linear(x, self._weight_t(), self.bias)
        if x.dtype in _BYTES:  # spikes stored as bytes: the dense path needs floats
            x = x.to(self.weight.dtype)
        return F.linear(x, self.weight, self.bias)

    def _check_finite(self, x: Tensor, y: Tensor) -> None:
        """Raise :class:`~spikeforge.numerics.NonFiniteError` if the output holds NaN/inf, naming the
        input's index if the input is to blame. A NaN/inf input reaches every output of its row on
        both paths (``NaN w = NaN``, ``inf w = ±inf`` or NaN), so screening the output (one sum,
        usually smaller than the input) is enough."""
        if first_nonfinite(y) is None:
            return
        check_finite(x, "EventLinear", time_major=x.dim() >= 3)
        check_finite(y, "EventLinear", "output (from a finite input: check the weights and bias)",
                     time_major=y.dim() >= 3)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode!r}, crossover={self.crossover:g}"
