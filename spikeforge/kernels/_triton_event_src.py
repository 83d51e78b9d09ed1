"""Triton source of the event-driven linear layer (the GPU twin of ``csrc/event.cpp``).

Imported lazily by :mod:`.triton_event` (never by ``import spikeforge``); :func:`build` applies
``triton.jit`` so the same source runs compiled on a GPU or in Triton's interpreter
(``TRITON_INTERPRET=1``) on CPU tensors. No helper functions: everything is inlined.

Both kernels walk a compressed list of the nonzero inputs that the caller builds with
``torch.nonzero`` (row-major order, so indices are increasing):

    forward      y[r, n]   = b[n] + sum_{k: x[r, k] != 0} x[r, k] * wt[k, n]     (k increasing)
    grad weight  gwt[k, n] =  0   + sum_{r: x[r, k] != 0} x[r, k] * gy[r, n]     (r increasing)

One program owns one row (forward) or one input index (weight gradient) and ``BLOCK_N`` outputs,
keeps the sum in registers and adds one term per active input: each product and each sum rounds
once (the kernels are launched with ``enable_fp_fusion=False``), so the forward equals the C++
kernel's sequential sum bit for bit, and the weight gradient equals the sequential sum over rows in
increasing order.
"""

from __future__ import annotations

from types import SimpleNamespace

import triton
import triton.language as tl


def _event_forward(rowptr, cols, vals, wt, bias, y, N, BLOCK_N: tl.constexpr):
    """``y[r, block] = bias[block] + sum_j vals[j] * wt[cols[j], block]`` over ``j`` in row ``r``'s
    slice ``rowptr[r]:rowptr[r + 1]`` of the compressed nonzeros."""
    r = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = offs < N
    acc = tl.load(bias + offs, mask=mask, other=0.0)  # zeros when the layer has no bias
    start = tl.load(rowptr + r)
    end = tl.load(rowptr + r + 1)
    for j in range(start, end):
        k = tl.load(cols + j).to(tl.int64)
        s = tl.load(vals + j)
        w = tl.load(wt + k * N + offs, mask=mask, other=0.0)
        acc = acc + s * w
    tl.store(y + tl.cast(r, tl.int64) * N + offs, acc, mask=mask)


def _event_grad_w(colptr, rows, vals, gy, zero, gwt, N, BLOCK_N: tl.constexpr):
    """``gwt[k, block] = sum_j vals[j] * gy[rows[j], block]`` over ``j`` in input ``k``'s slice
    ``colptr[k]:colptr[k + 1]`` of the nonzeros in column-major order."""
    k = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = offs < N
    acc = tl.load(zero + offs, mask=mask, other=0.0)  # a zero vector of the compute dtype
    start = tl.load(colptr + k)
    end = tl.load(colptr + k + 1)
    for j in range(start, end):
        r = tl.load(rows + j).to(tl.int64)
        s = tl.load(vals + j)
        g = tl.load(gy + r * N + offs, mask=mask, other=0.0)
        acc = acc + s * g
    tl.store(gwt + tl.cast(k, tl.int64) * N + offs, acc, mask=mask)


def build() -> SimpleNamespace:
    """The kernels, ``triton.jit``-decorated now (so in the mode ``TRITON_INTERPRET`` selects now)."""
    return SimpleNamespace(event_forward=triton.jit(_event_forward), event_grad_w=triton.jit(_event_grad_w))
