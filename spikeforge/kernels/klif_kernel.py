r"""Fused CPU kernel of the KLIF neuron (``neurons/klif.py``; ``csrc/klif.cpp``).

:func:`~spikeforge.neurons.klif.klif_step` per step, evaluated in the kernel in its torch order:

.. math::
    v_1 = \mathrm{ReLU}\big(k\,(v + (x - v)\,a)\big),\quad a = dt/\tau_{mem},
    \quad z = H(v_1 - v_{th}),\quad v' = \mathrm{reset}(v_1, z)

``a`` is computed here by the step's own expression ``dt / tau_mem`` (so it rounds identically),
and autograd carries its per-neuron gradient back to ``tau_mem``; ``k``, ``v_th`` and ``v_reset``
get theirs from the kernel directly. Every reset (subtract, value, zero, none) and
``detach_reset`` run; the gradient of ReLU passes where its result is positive, as torch's.
Backward recomputes the trajectory block by block (forward saves nothing but its inputs; the
backward buffer is ``3 T`` values per neuron of a cache-sized block), see ``csrc/klif.cpp``. Its
surrogate derivative runs in one vectorised pass per block (the C library's ``exp`` for the
sigmoid and gaussian surrogates: calling torch's MKL exp from the kernel's threads made 2-thread
runs interleaved with torch ops many times slower).
"""

from __future__ import annotations

import ctypes
from typing import Any

from torch import Tensor

from ._build import BackendUnavailableError
from .model_kernels import kernel_library
from .cpu import call_unsupported
from .eif_kernel import run_one_state
from .specs import KernelSpec

__all__ = ["KLIF_KERNEL", "KLIFKernel"]


def _coefs(p: Any, dt: float, integrator: str = "euler") -> dict[str, Tensor]:
    # kernel slots c1, c2 carry a = dt / tau_mem (klif_step's expression) and k
    return {"c1": dt / p.tau_mem, "c2": p.k, "vth": p.v_th, "vr": p.v_reset}


SPEC = KernelSpec(kind=-1, state_fields=("v",), coefs=_coefs)  # run_elementwise's layout work only


def _lib() -> ctypes.CDLL:
    return kernel_library("klif", "ILLPPPPPIIP", "IIIDLLPPLLPPPPPPIPLI")


class KLIFKernel:
    """The ``"cpp"`` model kernel of :func:`~spikeforge.neurons.klif.klif_step` (``MODEL_KERNELS``)."""

    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
        return call_unsupported(SPEC, xs, state, kwargs, "cpp")

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any],
            where: str | None) -> tuple[Tensor, Any]:
        why = self.supports(xs, state, kwargs)
        if why is not None:
            raise BackendUnavailableError(why)
        return run_one_state(SPEC, _lib, "sf_klif", xs, state, p, kwargs, where, lambda dtype: (),
                             lambda dtype: (None, 0))  # no vector exp: std::exp (see csrc/eif.cpp)


KLIF_KERNEL = KLIFKernel()
