r"""Fused CPU kernel of CLIF (``neurons/clif.py::clif_step``; ``csrc/clif.cpp``).

.. math::
    v_1 = v\,c_d + x,\quad m_1 = m\,\sigma(v_1/\tau),\quad z = H(v_1 - v_{th}),\quad
    m' = m_1 + z,\quad v' = (v_1 - z v_{th}) - z\,\sigma(m')

with ``tau = tau_mem / dt`` and ``c_d = 1 - 1 / tau`` computed here by the step's own torch
expressions. Spikes and final state are bit-identical to the torch loop, which needs the kernel to
reproduce ``torch.sigmoid`` bit for bit: ATen evaluates ``1 / (1 + exp(-a))`` with Sleef's vector
``exp`` for most elements and the C library's scalar ``exp`` for the few left at the end of each
thread's chunk, so an element's rounding depends on its position in the (contiguous) step tensor
and on ``torch.get_num_threads()``. The kernel gets torch's own vector ``exp`` (its address in
``libtorch_cpu``) and the width of torch's vectors, and applies the same position rule
(``csrc/clif.cpp``), so it runs only where that rule is known to hold: ATen's AVX2 kernels (pairs of
8 floats / 4 doubles, ``Sleef_expf8_u10``) or AVX512 kernels (pairs of 16 floats / 8 doubles,
``Sleef_expf16_u10``; ``torch.backends.cpu.get_cpu_capability()``) and contiguous state tensors,
which make every tensor of the step contiguous in row-major ``[B, *]`` order (a strided input is
copied to that order; the state is not). Anything else is declined (``"auto"`` runs the reference).

Backward recomputes ``v``, ``m`` and both sigmoids before every step for a cache-sized block of
neurons (``4 T`` values per neuron, nothing saved from forward but the inputs) and runs the adjoint
recurrence: gradients of the input, both initial state fields and ``c_d``, ``tau``, ``v_th`` per
neuron, which autograd carries back to ``tau_mem`` and ``v_th``. ``detach_reset`` detaches both
reset terms, never the spike added to ``m`` (as the step). Every built-in surrogate runs exactly.
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch
from torch import Tensor

from .model_kernels import torch_sleef, torch_vector_bytes
from .tc_lif_kernel import run_two_state, two_state_unsupported

__all__ = ["CLIF_KERNEL", "torch_vector_exp"]

def torch_vector_exp(dtype: torch.dtype) -> int | None:
    """Address of the vector ``exp`` torch's CPU sigmoid uses for ``dtype`` in this process (SLEEF's,
    for ATen's AVX2 or AVX512 kernels), or ``None``."""
    return torch_sleef("exp", dtype)


class CLIFKernel:
    """The :class:`~spikeforge.kernels.model_kernels.ModelKernel` of ``clif_step``."""

    fields = ("v", "m")

    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
        why = two_state_unsupported(xs, state, kwargs, self.fields)
        if why is not None:
            return why
        if torch_vector_bytes() is None:
            return (f"CLIF's kernel reproduces torch.sigmoid's AVX2 and AVX512 code; this process runs ATen's "
                    f"{torch.backends.cpu.get_cpu_capability()} kernels")
        if not all(s.is_contiguous() for s in state):
            return ("CLIF's kernel reproduces torch.sigmoid, whose rounding depends on an element's place "
                    "in memory; it needs contiguous state tensors")
        if torch_vector_exp(xs.dtype) is None:
            return "torch's vector exp (Sleef) is not exported by libtorch_cpu"
        return None

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any], where: str | None) -> tuple[Tensor, Any]:
        # the coefficients exactly as clif_step computes them
        tau = p.tau_mem / kwargs["dt"]
        cd = 1 - 1 / tau
        # the sigmoid's position rule (threads, vector width) and its vector exp
        extra = (torch.get_num_threads(), torch_vector_exp(xs.dtype), torch_vector_bytes())
        types = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
        return run_two_state("clif", xs, state, [cd, tau, p.v_th], kwargs, where, in_memory_order=False,
                             extra=extra, extra_types=(types, types))


CLIF_KERNEL = CLIFKernel()
