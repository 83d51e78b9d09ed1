r"""Event-driven linear layer on the ``"triton"`` backend (CUDA tensors; CPU under ``TRITON_INTERPRET=1``).

The GPU twin of :func:`spikeforge.layers.sparse_linear.event_linear`: for spike inputs, add up the
weight columns of the active inputs instead of multiplying by the zeros.

.. math::

    y_{r,:} = b + \sum_{k:\,x_{r,k}\ne 0} x_{r,k}\, W^T_{k,:} \qquad
    \frac{\partial L}{\partial W^T_{k,:}} = \sum_{r:\,x_{r,k}\ne 0} x_{r,k}\, \frac{\partial L}{\partial y_{r,:}}

The nonzero inputs are listed once per call with ``torch.nonzero`` (row-major for the forward,
column-major for the weight gradient, both in increasing index order); the kernels in
:mod:`._triton_event_src` then walk each row's (each input's) list. Sums are sequential in index
order with one rounding per operation, so the forward output equals the C++ kernel's bit for bit,
and both equal the dense ``x @ W.T + b`` up to float summation order. The input gradient
``grad_y W`` is dense (a matmul), as on the CPU.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._build import BackendUnavailableError
from .triton_lif import interpreting, load_kernels, triton_available

__all__ = ["BLOCK_N", "TritonEventLinearFn", "triton_event_linear", "triton_event_linear_grad_weight",
           "triton_event_supports"]

BLOCK_N = 128  # outputs per program; tests lower it so a narrow layer still spans several programs
_FLOATS = (torch.float32, torch.float64)
_SPIKES = (torch.uint8, torch.bool)
_built: dict[bool, Any] = {}


def _kernels() -> Any:
    return load_kernels("_triton_event_src", _built)


def triton_event_supports(x: Tensor, weight_t: Tensor) -> str | None:
    """``None`` if the Triton event kernels can run ``x @ weight_t``, else the reason they cannot."""
    if not triton_available():
        return "the 'triton' backend needs the triton package and a CUDA GPU (or TRITON_INTERPRET=1)"
    for name, t in (("input", x), ("weight", weight_t)):
        if t.device.type != "cuda" and not (interpreting() and t.device.type == "cpu"):
            return (f"the 'triton' event linear runs on CUDA tensors (CPU only under TRITON_INTERPRET=1), "
                    f"got the {name} on {t.device}")
    if x.device != weight_t.device:
        return f"input on {x.device} but weight on {weight_t.device}"
    if weight_t.dtype not in _FLOATS:
        return f"the 'triton' event linear computes in float32/float64, got weight dtype {weight_t.dtype}"
    if x.dtype not in _FLOATS and x.dtype not in _SPIKES:
        return f"the 'triton' event linear takes float or uint8/bool spike inputs, got {x.dtype}"
    if x.dtype in _FLOATS and x.dtype != weight_t.dtype:
        return f"input dtype {x.dtype} differs from the weight dtype {weight_t.dtype}"
    return None


def _check(x: Tensor, weight_t: Tensor) -> None:
    why = triton_event_supports(x, weight_t)
    if why is not None:
        raise BackendUnavailableError(why)


def _launch(kernel: Any, grid: tuple[int, int], *args: Any) -> None:
    # enable_fp_fusion=False: no product contracted into an FMA, so every op rounds once like the C++ kernel
    kernel[grid](*args, BLOCK_N=BLOCK_N, enable_fp_fusion=False)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _compressed(x2: Tensor, dtype: torch.dtype, by_column: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``(ptr, idx, vals)`` of the nonzeros of ``x2 [rows, K]``: CSR (``by_column=False``: ``ptr``
    has ``rows + 1`` entries, ``idx`` the input index) or CSC (``ptr`` ``K + 1``, ``idx`` the row)."""
    src = x2.t() if by_column else x2  # [K, rows] or [rows, K]
    nz = src.nonzero()  # [nnz, 2], row-major: the second index increases within each first index
    vals = src[nz[:, 0], nz[:, 1]].to(dtype)  # [nnz]
    ptr = torch.zeros(src.shape[0] + 1, dtype=torch.int64, device=x2.device)
    ptr[1:] = torch.bincount(nz[:, 0], minlength=src.shape[0]).cumsum(0)
    return ptr, nz[:, 1].contiguous(), vals


def triton_event_linear(x: Tensor, weight_t: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y = x W^T + b`` from ``weight_t = W^T [K, N]``, adding the weight rows of the active
    inputs only. ``x`` is ``[*, K]`` (float, or 0/1 spikes as uint8/bool); returns ``[*, N]`` in the
    weight's dtype. Raises :class:`BackendUnavailableError` where the kernels cannot run."""
    _check(x, weight_t)
    K, N = weight_t.shape
    if x.shape[-1] != K:
        raise ValueError(f"input has {x.shape[-1]} features, weight expects {K}")
    dtype = weight_t.dtype
    x2 = x.reshape(-1, K)  # [rows, K]
    rows = x2.shape[0]
    b = torch.zeros(N, dtype=dtype, device=x.device) if bias is None else bias.to(dtype).contiguous()
    y = torch.empty(rows, N, dtype=dtype, device=x.device)  # [rows, N]
    if rows and N:
        rowptr, cols, vals = _compressed(x2, dtype, by_column=False)
        _launch(_kernels().event_forward, (rows, _cdiv(N, BLOCK_N)), rowptr, cols, vals,
                weight_t.contiguous(), b, y, N)
    return y.reshape(*x.shape[:-1], N)  # [*, N]


def triton_event_linear_grad_weight(x: Tensor, grad_y: Tensor) -> Tensor:
    """``grad_W = grad_y^T x`` summed over the active inputs only; ``x [*, K]``, ``grad_y [*, N]``;
    returns ``[N, K]`` in ``grad_y``'s dtype."""
    _check(x, grad_y)
    K, N = x.shape[-1], grad_y.shape[-1]
    x2 = x.reshape(-1, K)  # [rows, K]
    g2 = grad_y.reshape(-1, N).contiguous()  # [rows, N]
    if x2.shape[0] != g2.shape[0]:
        raise ValueError(f"input has {x2.shape[0]} rows but the output gradient has {g2.shape[0]}")
    gwt = torch.empty(K, N, dtype=grad_y.dtype, device=x.device)  # [K, N]
    if K and N:
        colptr, rows, vals = _compressed(x2, grad_y.dtype, by_column=True)
        zero = torch.zeros(N, dtype=grad_y.dtype, device=x.device)
        _launch(_kernels().event_grad_w, (K, _cdiv(N, BLOCK_N)), colptr, rows, vals, g2, zero, gwt, N)
    return gwt.t()  # [N, K]


class TritonEventLinearFn(torch.autograd.Function):
    """``y = x W^T + b`` with the event-driven forward and weight gradient on Triton; the input
    gradient ``grad_y W`` (when needed) is a dense matmul. ``apply(x, weight, bias_or_None)``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return triton_event_linear(x, weight.t().contiguous(), bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        gw = triton_event_linear_grad_weight(x, gy) if ctx.needs_input_grad[1] else None
        gb = gy.reshape(-1, gy.shape[-1]).sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        gx = gy @ weight if ctx.needs_input_grad[0] else None  # [*, N] @ [N, K] -> [*, K]
        return gx, gw, gb
