"""Event-driven linear layer: for spike inputs, add up the weight columns of the active inputs.

A dense ``x @ W.T`` costs ``K * N`` multiply-adds per input row whatever ``x`` holds. With spike
inputs at firing rate ``r``, only ``r * K`` columns of ``W`` contribute, so gathering and adding
those columns costs ``r * K * N`` adds. The event path wins below a crossover rate measured by
``python -m spikeforge.bench --only event_linear`` (about 20 % on a 2-core x86 VM, see
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
from ..kernels.cpu import _empty, threads_for

__all__ = ["EventLinear", "event_linear", "event_linear_grad_weight", "input_rate", "DEFAULT_CROSSOVER"]

DEFAULT_CROSSOVER = 0.15  # firing rate below which the event path wins (measured crossover ~20 %, BENCHMARKS.md)


def event_linear(x: Tensor, weight_t: Tensor, bias: Tensor | None = None) -> Tensor:
    r"""``y = x W^T + b`` by accumulating rows of ``weight_t = W^T`` for the nonzero inputs.

    .. math:: y_{r,:} = b + \sum_{k:\,x_{r,k} \ne 0} x_{r,k}\, W^T_{k,:}

    Args:
        x: Input ``[*, K]`` (spikes, or any mostly-zero tensor); CPU float32/float64.
        weight_t: Transposed weight ``[K, N]``, contiguous.
        bias: Optional ``[N]``.

    Returns:
        ``[*, N]``. Raises :class:`~spikeforge.kernels.BackendUnavailableError` without a compiler.
    """
    lib = load_library()
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        raise BackendUnavailableError("event_linear runs on CPU float32/float64 tensors")
    K, N = weight_t.shape
    if x.shape[-1] != K:
        raise ValueError(f"input has {x.shape[-1]} features, weight expects {K}")
    x2 = x.reshape(-1, K).contiguous()  # [rows, K]
    wt = weight_t.to(x.dtype).contiguous()
    b = None if bias is None else bias.to(x.dtype).contiguous()
    y = _empty((x2.shape[0], N), x.dtype)
    fn = lib.sf_event_linear_f32 if x.dtype == torch.float32 else lib.sf_event_linear_f64
    fn(x2.shape[0], K, N, x2.data_ptr(), wt.data_ptr(), None if b is None else b.data_ptr(), y.data_ptr(),
       threads_for(x2.numel()))
    return y.reshape(*x.shape[:-1], N)  # [*, N]


def event_linear_grad_weight(x: Tensor, grad_y: Tensor) -> Tensor:
    """``grad_W = grad_y^T x`` accumulated over the nonzero inputs only; returns ``[N, K]``."""
    lib = load_library()
    K, N = x.shape[-1], grad_y.shape[-1]
    x2 = x.reshape(-1, K).contiguous()  # [rows, K]
    g2 = grad_y.reshape(-1, N).contiguous()  # [rows, N]
    gwt = _empty((K, N), x.dtype)
    fn = lib.sf_event_linear_grad_w_f32 if x.dtype == torch.float32 else lib.sf_event_linear_grad_w_f64
    fn(x2.shape[0], K, N, x2.data_ptr(), g2.data_ptr(), gwt.data_ptr(), threads_for(x2.numel()))
    return gwt.t()  # [N, K]


class _EventLinearFn(torch.autograd.Function):
    """Event-driven forward and weight gradient; the input gradient (if needed) is dense."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, weight_t: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return event_linear(x, weight_t, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy: Tensor):  # type: ignore[override]
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
        mode: ``"auto"`` (event path when the measured input rate is below ``crossover``),
            ``"dense"`` or ``"event"`` (always; raises if unavailable).
        crossover: Firing rate below which ``"auto"`` takes the event path.

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
        if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
            return False
        try:
            load_library()
        except BackendUnavailableError:
            return False
        return input_rate(x) <= self.crossover

    def forward(self, x: Tensor) -> Tensor:
        if self.uses_event_path(x):
            if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad
                                            or (self.bias is not None and self.bias.requires_grad)):
                return _EventLinearFn.apply(x, self.weight, self.bias, self._weight_t())
            return event_linear(x, self._weight_t(), self.bias)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode!r}, crossover={self.crossover:g}"
