"""Fused ``"cpp"`` kernels for neuron models whose math is not the LIF kernel's charge equation.

``kernels/specs.py`` maps a step function onto the coefficients of the one LIF-family kernel
(``csrc/lif.cpp``). A model with different math (EIF's exponential charge, a second state, an
integer output …) instead brings a kernel of its own: a C++ file in ``csrc/`` (built into the
same library) and a Python module here with an object that has

    ``supports(xs, state, kwargs) -> str | None``   ``None`` if it runs this call exactly, else why not
    ``run(xs, state, p, kwargs, where) -> (zs, final state)``   the fused sequence, differentiable

under the same contract as every backend (``kernels/DESIGN.md``): forward outputs and final state
bit-identical to looping the step function, gradients of the input, the initial state and every
learnable parameter equal to float tolerance, non-finite inputs and states reported as
:class:`~spikeforge.numerics.NonFiniteError`.

:data:`MODEL_KERNELS` maps the step function's qualified name (``kernels`` sits below ``neurons``
and never imports it) to ``"module:attribute"`` of that object, imported on first use.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
from typing import Any, Protocol

import torch
from torch import Tensor

from ._build import load_library
from .specs import _qualname

__all__ = ["ModelKernel", "MODEL_KERNELS", "TORCH_VECTORS", "kernel_library", "model_kernel_for", "torch_function",
           "torch_function_address", "torch_sleef", "torch_vector_bytes"]


class ModelKernel(Protocol):
    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None: ...

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any],
            where: str | None) -> tuple[Tensor, Any]: ...


# step function's qualified name -> "module:attribute" of its ModelKernel (one line per model)
MODEL_KERNELS: dict[str, str] = {
    "spikeforge.neurons.ultralif.ultralif_step": "spikeforge.kernels.ultralif_kernel:ULTRALIF",
    "spikeforge.neurons.ultradlif.ultradlif_step": "spikeforge.kernels.ultradlif_kernel:ULTRADLIF",
    "spikeforge.neurons.astro_lif.astro_lif_step": "spikeforge.kernels.astro_lif_kernel:ASTRO_LIF",
    "spikeforge.neurons.clif.clif_step": "spikeforge.kernels.clif_kernel:CLIF_KERNEL",
    "spikeforge.neurons.tc_lif.tc_lif_step": "spikeforge.kernels.tc_lif_kernel:TC_LIF_KERNEL",
    "spikeforge.neurons.eif.eif_step": "spikeforge.kernels.eif_kernel:EIF_KERNEL",
    "spikeforge.neurons.klif.klif_step": "spikeforge.kernels.klif_kernel:KLIF_KERNEL",
    "spikeforge.neurons.ilif.ilif_step": "spikeforge.kernels.ilif_kernel:ILIF_KERNEL",
    "spikeforge.neurons.nilif.nilif_step": "spikeforge.kernels.ilif_kernel:NILIF_KERNEL",
    "spikeforge.neurons.glif.glif_step": "spikeforge.kernels.glif_kernel:GLIF_KERNEL",
    "spikeforge.neurons.cuba_li.cuba_li_step": "spikeforge.kernels.cuba_li_kernel:CUBA_LI_KERNEL",
}

_loaded: dict[str, ModelKernel] = {}


def model_kernel_for(step_fn: Any) -> ModelKernel | None:
    """The model kernel of a step function, or ``None`` if it has none."""
    name = _qualname(step_fn)
    target = MODEL_KERNELS.get(name)
    if target is None:
        return None
    kernel = _loaded.get(name)
    if kernel is None:
        module, attr = target.split(":")
        kernel = _loaded[name] = getattr(importlib.import_module(module), attr)
    return kernel


_CTYPES = {"P": ctypes.c_void_p, "I": ctypes.c_int, "L": ctypes.c_int64, "D": ctypes.c_double}
_declared: set[tuple[int, str]] = set()  # (library id, kernel prefix) whose argtypes are set


def kernel_library(prefix: str, forward: str, backward: str,
                   names: tuple[str, str] = ("forward", "backward")) -> ctypes.CDLL:
    """The loaded kernel library, with ``sf_<prefix>_forward_{f32,f64}`` and ``sf_<prefix>_backward_*``
    (or the two ``names``) declared (once per library): ``forward``/``backward`` spell their C argument
    types, one letter each (``P`` pointer, ``I`` int, ``L`` int64, ``D`` double); both return an int status."""
    lib = load_library()
    if (id(lib), prefix) not in _declared:
        for suf in ("f32", "f64"):
            for kind, sig in zip(names, (forward, backward)):
                fn = getattr(lib, f"sf_{prefix}_{kind}_{suf}")
                fn.argtypes = [_CTYPES[c] for c in sig]
                fn.restype = ctypes.c_int
        _declared.add((id(lib), prefix))
    return lib


@functools.lru_cache(maxsize=None)
def torch_function(name: str) -> Any:
    """An exported function of torch's CPU library (``libtorch_cpu``, already loaded by torch, so the
    same handle), or ``None`` where this torch build does not export it. Kernels that must round as a
    torch op does call the routine that op runs (EIF: MKL's exp; CLIF, UltraLIF: SLEEF's exp/log1p)."""
    try:
        return getattr(ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")), name)
    except (OSError, AttributeError):
        return None


def torch_function_address(name: str) -> int | None:
    """The address of :func:`torch_function` ``(name)``, or ``None``."""
    fn = torch_function(name)
    return None if fn is None else ctypes.cast(fn, ctypes.c_void_p).value


# ATen's vectorised CPU kernels per capability (``torch.backends.cpu.get_cpu_capability()``): the width
# of a vector in bytes and the suffix of the SLEEF functions its float / double vectors call. Both
# widths were checked element by element against torch.sigmoid and torch.logaddexp (the vector loop
# runs pairs of these vectors, the rest of each thread's chunk takes the C library's scalar op).
TORCH_VECTORS: dict[str, tuple[int, dict[torch.dtype, str]]] = {
    "AVX2": (32, {torch.float32: "f8", torch.float64: "d4"}),
    "AVX512": (64, {torch.float32: "f16", torch.float64: "d8"}),
}


def torch_vector_bytes() -> int | None:
    """Bytes per vector of the ATen CPU kernels this process runs (32 AVX2, 64 AVX512), or ``None``
    for a capability whose loop no kernel reproduces (e.g. ``"DEFAULT"``, no vector code)."""
    entry = TORCH_VECTORS.get(torch.backends.cpu.get_cpu_capability())
    return None if entry is None else entry[0]


def torch_sleef(name: str, dtype: torch.dtype) -> int | None:
    """Address of the SLEEF vector function (``"exp"``, ``"log1p"``; 1.0-ULP ``u10`` variant) that this
    process's ATen kernels call for ``dtype`` (``Sleef_expf16_u10`` for float32 on AVX512), or ``None``
    (another capability or dtype, or not exported by libtorch_cpu)."""
    return _sleef_address(torch.backends.cpu.get_cpu_capability(), name, dtype)


@functools.lru_cache(maxsize=None)
def _sleef_address(capability: str, name: str, dtype: torch.dtype) -> int | None:
    """:func:`torch_sleef` for one capability, looked up once (the kernels ask on every call)."""
    entry = TORCH_VECTORS.get(capability)
    suffix = None if entry is None else entry[1].get(dtype)
    return None if suffix is None else torch_function_address(f"Sleef_{name}{suffix}_u10")
