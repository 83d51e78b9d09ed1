"""Event-driven linear layer: for spike inputs, add up the weight columns of the active inputs.

A dense ``x @ W.T`` costs ``K * N`` multiply-adds per input row whatever ``x`` holds. With spike
inputs at firing rate ``r``, only ``r * K`` columns of ``W`` contribute, so gathering and adding
those columns costs ``r * K * N`` adds. The event path wins below a crossover rate measured by
``python -m spikeforge.bench --only event_linear relu_twin`` (see BENCHMARKS.md);
:class:`EventLinear` and :func:`linear` decide per call with
:func:`spikeforge.kernels.event_policy.event_plan` (binary input, rate below the measured
crossover, enough outputs). Results equal the dense layer up to float summation order.

Training works too: the weight gradient ``grad_y^T x`` is also accumulated over the active inputs
only (``r`` times the dense cost); the input gradient ``grad_y W``, when needed, is dense.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..kernels import BackendUnavailableError
from ..kernels._build import load_library
from ..kernels import event_policy
from ..kernels.cpu import _empty, threads_for
from ..numerics import check_finite, check_finite_enabled, first_nonfinite

__all__ = ["EventLinear", "event_linear", "event_linear_grad_weight", "input_rate", "linear", "DEFAULT_CROSSOVER",
           "MIN_EVENT_OUT"]

DEFAULT_CROSSOVER = event_policy.INFER_CROSSOVER  # inference crossover (training uses TRAIN_CROSSOVER)
MIN_EVENT_OUT = event_policy.MIN_EVENT_OUT  # below this many outputs the dense matmul wins at any rate


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


def _needs_grad(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    return torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                        or (bias is not None and bias.requires_grad))


def _event_forward(x: Tensor, weight: Tensor, bias: Tensor | None, weight_t: Tensor, grad: bool,
                   backend: str = "auto") -> Tensor:
    """The event path on the C++ kernels (CPU tensors) or Triton's (CUDA tensors; ``backend="triton"``
    also runs CPU tensors under ``TRITON_INTERPRET=1``)."""
    if backend == "triton" or (backend == "auto" and x.device.type == "cuda"):
        from ..kernels.triton_event import TritonEventLinearFn, triton_event_linear
        return TritonEventLinearFn.apply(x, weight, bias) if grad else triton_event_linear(x, weight_t, bias)
    return _EventLinearFn.apply(x, weight, bias, weight_t) if grad else event_linear(x, weight_t, bias)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, *, event_driven: bool = True,
           weight_t: Tensor | None = None) -> Tensor:
    r"""``F.linear(x, weight, bias)``, run event-driven when
    :func:`~spikeforge.kernels.event_policy.event_plan` says it wins for this call.

    .. math:: y = x W^T + b

    On the event path the forward adds the weight columns of the active inputs and the weight
    gradient adds the output-gradient rows of the active inputs; the input and bias gradients are
    dense. Values and gradients equal ``F.linear``'s up to float summation order.

    Args:
        x: ``[*, K]``; float of the weight's dtype, or 0/1 spikes stored as uint8/bool.
        weight: ``[N, K]``. bias: optional ``[N]``.
        event_driven: ``False`` always runs ``F.linear``.
        weight_t: optional cached ``weight.T`` contiguous ``[K, N]`` (made here otherwise).
    """
    grad = _needs_grad(x, weight, bias)
    if event_driven and event_policy.event_plan(x, weight, training=grad):
        wt = weight.detach().t().contiguous() if weight_t is None else weight_t  # [N, K] -> [K, N]
        return _event_forward(x, weight, bias, wt, grad)
    if x.dtype in _BYTES:  # spikes stored as bytes: the dense path needs floats
        x = x.to(weight.dtype)
    return F.linear(x, weight, bias)


def input_rate(x: Tensor, max_samples: int = 1 << 16) -> float:
    """Fraction of nonzero entries of ``x``, estimated on an evenly strided sample of at most
    ``max_samples`` entries (a full count would cost as much as the event path itself)."""
    flat = x.reshape(-1)
    step = max(1, flat.numel() // max_samples)
    sample = flat[::step]
    return float(torch.count_nonzero(sample)) / max(sample.numel(), 1)


class EventLinear(nn.Linear):
    """``nn.Linear`` that switches to the event-driven path for sparse binary inputs, in training
    (forward and weight gradient) and inference.

    Args:
        in_features, out_features, bias, device, dtype: as ``nn.Linear``.
        mode: ``"auto"`` (decided per call by :func:`~spikeforge.kernels.event_policy.event_plan`:
            binary input, rate at or below the crossover, at least :data:`MIN_EVENT_OUT` outputs;
            ``SPIKEFORGE_EVENT_DRIVEN=0`` turns it off), ``"dense"`` or ``"event"`` (always, any
            input values; raises if unavailable).
        crossover: Firing rate at or below which ``"auto"`` takes the event path; ``None``
            (default) uses the measured crossover (``TRAIN_CROSSOVER`` when a gradient will be
            taken, else ``INFER_CROSSOVER``; on CUDA at most ``CUDA_CROSSOVER``).
        backend: Kernels of the event path: ``"auto"`` (C++ for CPU tensors, Triton for CUDA
            tensors), ``"cpp"`` or ``"triton"`` (CUDA, or CPU under ``TRITON_INTERPRET=1``).

    Inputs may be float spikes or spikes stored as uint8/bool (0/1), which the event path reads
    directly (no float copy of the input is made; the dense path converts them).

    Example:
        >>> fc = EventLinear(700, 256)
        >>> with torch.no_grad():
        ...     y = fc((torch.rand(100, 64, 700) < 0.03).float())   # event path
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, mode: str = "auto",
                 crossover: float | None = None, backend: str = "auto", device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        if mode not in ("auto", "dense", "event"):
            raise ValueError(f"mode must be 'auto', 'dense' or 'event', got {mode!r}")
        if backend not in ("auto", "cpp", "triton"):
            raise ValueError(f"backend must be 'auto', 'cpp' or 'triton', got {backend!r}")
        self.backend = backend
        if crossover is not None and not 0.0 <= float(crossover) <= 1.0:
            raise ValueError(f"crossover must be a rate in [0, 1] or None, got {crossover!r}")
        self.mode = mode
        self.crossover = None if crossover is None else float(crossover)
        self._wt_cache: tuple[int, int, Tensor] | None = None  # (data_ptr, version, W^T)

    def _weight_t(self) -> Tensor:
        key = (self.weight.data_ptr(), self.weight._version)
        if self._wt_cache is None or self._wt_cache[:2] != key:
            self._wt_cache = (*key, self.weight.detach().t().contiguous())
        return self._wt_cache[2]

    def uses_event_path(self, x: Tensor, training: bool | None = None) -> bool:
        """Whether :meth:`forward` would take the event path for ``x`` (``training``: whether a
        gradient will be taken; by default as :meth:`forward` would decide)."""
        if self.mode == "dense":
            return False
        if self.mode == "event":
            return True
        if training is None:
            training = _needs_grad(x, self.weight, self.bias)
        return event_policy.event_plan(x, self.weight, training, rate_limit=self.crossover)

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
        grad = _needs_grad(x, self.weight, self.bias)
        if self.uses_event_path(x, grad):
            return _event_forward(x, self.weight, self.bias, self._weight_t(), grad, self.backend)
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
        cross = "measured" if self.crossover is None else f"{self.crossover:g}"
        return f"{super().extra_repr()}, mode={self.mode!r}, crossover={cross}"
