r"""Fused CPU kernel of CubaLI (``neurons/cuba_li.py::cuba_li_step``; ``csrc/cuba_li.cpp``).

.. math::
    i' = c_{i1} i + c_{i2} x,\qquad v' = (c_1 v + c_2 i') + c_3,\qquad \text{output } v'

The coefficients are those of the integrator the module uses (``"euler"``, ``"exp"`` or
``"decay"``), computed here by the same torch expressions the step evaluates
(``kernels/specs.py`` mirrors ``neurons/_dynamics.py``); the kernel evaluates the rest in the step's
order, so outputs and final state are bit-identical to the torch loop. Backward is the adjoint of the
linear recurrence; only the per-neuron coefficient gradients (which autograd carries back to
``tau_syn``, ``tau_mem``, ``r``, ``v_leak``, ``w_in`` or their decay-form twins) need the state
history, recomputed block by block (``2 T`` values per neuron of a cache-sized block, nothing saved
from forward but the inputs). It runs on the two-state kernels' layout and ABI
(:func:`~spikeforge.kernels.tc_lif_kernel.run_two_state`); having no spike, it takes no surrogate.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .cpu import state_reason
from .specs import _fractions, _membrane
from .tc_lif_kernel import run_two_state

__all__ = ["CUBA_LI_KERNEL"]


def cuba_li_coefficients(p: Any, dt: float, integrator: str) -> list[Any]:
    """``[ci1, ci2, c1, c2, c3]`` exactly as ``cuba_li_step`` computes them (``_dynamics``)."""
    if integrator == "decay":
        ci1, ci2 = p.alpha, p.gain_syn
    else:
        ci1, a_s = _fractions(p.tau_syn, dt, integrator)
        ci2 = a_s * p.w_in
    mem = _membrane(p, dt, integrator)
    return [ci1, ci2, mem["c1"], mem["c2"], mem["c3"]]


class CubaLIKernel:
    """The :class:`~spikeforge.kernels.model_kernels.ModelKernel` of ``cuba_li_step``."""

    fields = ("i", "v")

    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
        if xs.dtype not in (torch.float32, torch.float64):
            return f"the 'cpp' backend supports float32/float64, got {xs.dtype}"
        if kwargs.get("state_quant") is not None:
            return "state quantization (state_quant) has no fused kernel"
        if kwargs.get("integrator", "euler") not in ("euler", "exp", "decay"):
            return f"no kernel coefficients for integrator {kwargs.get('integrator')!r}"
        return state_reason(xs, state, self.fields)

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any], where: str | None) -> tuple[Tensor, Any]:
        coefs = cuba_li_coefficients(p, kwargs.get("dt", 1e-3), kwargs.get("integrator", "euler"))
        return run_two_state("cuba_li", xs, state, coefs, kwargs, where)


CUBA_LI_KERNEL = CubaLIKernel()
