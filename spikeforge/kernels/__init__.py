"""Fused multi-step backends of the pure neuron step functions.

A backend runs a whole ``[T, B, *]`` sequence of one neuron layer in one call and must produce
the same results as looping the step function (``backend="torch"``): forward outputs
bit-identical in float32, gradients of inputs, initial state and learnable parameters equal to
float tolerance (``tests/kernels``).

Backends:
    ``"torch"``  the reference loop of the step function (always available).
    ``"cpp"``    fused CPU kernels, compiled on first use with the system C++ compiler and cached
                 (:mod:`._build`); LIF, PLIF, CubaLIF, ALIF and LI;
                 UltraLIF, UltraDLIF, AstroLIF, EIF, KLIF, I-LIF, NI-LIF, GLIF, CLIF, TC-LIF and CubaLI with
                 kernels of their own (:mod:`.model_kernels`).
    ``"triton"`` fused GPU kernels (Triton) for CUDA tensors, same math and state layout as
                 ``"cpp"`` (:mod:`.triton_lif`); CPU tensors only under ``TRITON_INTERPRET=1``.
    ``"auto"``   ``"triton"`` for CUDA tensors when it supports the call, ``"cpp"`` for CPU tensors
                 when it supports the call and can be built, else ``"torch"``; never changes results.

A backend asked for by name that cannot run the call raises :class:`BackendUnavailableError`;
nothing falls back silently: ``"auto"`` warns once per process (:class:`KernelUnavailableWarning`)
when it runs the reference because the kernels cannot be built or loaded. ``SPIKEFORGE_BACKEND``
(``auto``/``torch``/``cpp``) overrides every module's ``backend=`` (:mod:`._policy`). The kernels
are C++ files in ``kernels/csrc/``, compiled on first use (one line on stderr says so) and cached
under ``$XDG_CACHE_HOME/spikeforge/kernels`` (:mod:`._build`). The fused forward pass checks
inputs and state for NaN/inf in the loop it already runs and raises
:class:`~spikeforge.numerics.NonFiniteError` (see :mod:`spikeforge.numerics` for the opt-out).
The Triton kernels and how they are tested are described in ``spikeforge/kernels/DESIGN.md``.

Large outputs of the ``"cpp"`` kernels come from a cache of storages that no tensor references any
more (:func:`empty_cache`, :func:`set_cache_limit`, :func:`cache_info`; see :mod:`._cache`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._build import BackendUnavailableError as BackendUnavailableError
from ._build import build_info as build_info
from ._build import load_library
from ._cache import cache_info as cache_info
from ._cache import empty_cache as empty_cache
from ._cache import set_cache_limit as set_cache_limit
from ._policy import KernelUnavailableWarning as KernelUnavailableWarning
from ._policy import fused_available, resolve_backend
from .cpu import run_cpp, supports
from .model_kernels import model_kernel_for
from .quant_lif import quant_supports, run_quant_cpp
from .specs import spec_for
from .triton_lif import run_triton, triton_available, triton_supports

__all__ = ["BACKENDS", "BackendUnavailableError", "KernelUnavailableWarning", "available_backends", "build_info",
           "cache_info", "empty_cache", "run_fused", "set_cache_limit"]

BACKENDS = ("auto", "torch", "cpp", "triton")


def available_backends() -> list[str]:
    """Backends that can run on this machine (``"cpp"`` only if its library builds/loads,
    ``"triton"`` only with the package and a CUDA GPU or ``TRITON_INTERPRET=1``)."""
    names = ["torch"]
    try:
        load_library()
        names.append("cpp")
    except BackendUnavailableError:
        pass
    if triton_available():
        names.append("triton")
    return names


def _tracing() -> bool:
    """True under torch.compile / torch.func transforms, which the opaque kernel would break."""
    try:
        if torch.compiler.is_compiling():
            return True
        return bool(torch._C._are_functorch_transforms_active())
    except AttributeError:  # older torch
        return False


def run_fused(backend: str, step_fn: Callable[..., Any], xs: Tensor, state: Any, p: Any,
              kwargs: dict[str, Any], where: str | None = None) -> tuple[Tensor, Any] | None:
    """Run ``step_fn`` over ``xs`` with a fused backend.

    ``SPIKEFORGE_BACKEND``, when set, replaces ``backend`` (see :mod:`._policy`). Returns ``None``
    when the backend is ``"torch"``, or ``"auto"`` and no fused kernel applies (the caller then runs
    the torch reference). Raises :class:`BackendUnavailableError` when a named backend cannot run
    this call, ``ValueError`` for an unknown backend name, and
    :class:`~spikeforge.numerics.NonFiniteError` (naming ``where``, the time step and the index) for
    a NaN/inf input or state while the non-finite check is enabled.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {list(BACKENDS)}")
    spec = spec_for(step_fn)
    model_kernel = model_kernel_for(step_fn) if spec is None else None
    backend = resolve_backend(backend, has_kernel=spec is not None or model_kernel is not None)
    if backend == "torch":
        return None
    if model_kernel is not None:  # a model with a C++ kernel of its own (kernels/model_kernels.py)
        return _run_model_kernel(model_kernel, backend, xs, state, p, kwargs, where)
    if backend == "triton":
        return run_triton(spec, xs, state, p, kwargs, where=where)
    if backend == "auto" and xs.device.type == "cuda":  # CPU tensors never reach Triton under "auto"
        if _tracing() or triton_supports(spec, xs, state, kwargs) is not None:
            return None
        return run_triton(spec, xs, state, p, kwargs, where=where)
    if kwargs.get("state_quant") is not None:  # SQUAT membrane quantization (kernels/quant_lif.py)
        if backend == "auto" and (_tracing() or quant_supports(spec, xs, state, kwargs) is not None
                                  or not fused_available()):
            return None
        return run_quant_cpp(spec, xs, state, p, kwargs, where=where)
    if backend == "auto":
        if _tracing() or supports(spec, xs, state, kwargs) is not None:
            return None
        if not fused_available():
            return None
        # supports() passed and the library is loaded (fused_available): run_cpp need not repeat them
        return run_cpp(spec, xs, state, p, kwargs, where=where, checked=True)  # type: ignore[arg-type]
    return run_cpp(spec, xs, state, p, kwargs, where=where)  # type: ignore[arg-type]


def _run_model_kernel(kernel: Any, backend: str, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any],
                      where: str | None) -> tuple[Tensor, Any] | None:
    """``run_fused`` for a model kernel: CPU only (``"triton"`` has none), ``"auto"`` runs the
    reference whenever the kernel declines the call or the library cannot load."""
    if backend == "triton":
        raise BackendUnavailableError(f"{where or 'this neuron'} has no Triton kernel (its fused kernel is 'cpp' only)")
    reason = "traced by torch.compile/torch.func" if _tracing() else None
    if reason is None and xs.device.type != "cpu":
        reason = f"the 'cpp' backend runs on CPU tensors, got device {xs.device}"
    if reason is None:
        reason = kernel.supports(xs, state, kwargs)
    if backend == "auto":
        if reason is not None or not fused_available():
            return None
    elif reason is not None:
        raise BackendUnavailableError(f"backend='cpp' cannot run {where or 'this call'}: {reason}")
    else:
        load_library()  # raises BackendUnavailableError with the build's reason
    return kernel.run(xs, state, p, kwargs, where)
