"""Which backend runs: the ``SPIKEFORGE_BACKEND`` override and the one warning when ``"auto"``
cannot use the fused kernels.

``SPIKEFORGE_BACKEND`` (``auto``, ``torch``, ``cpp`` or ``triton``; unset or empty: no override) replaces the
``backend=`` of every module that has one, for a whole run without editing code:
``SPIKEFORGE_BACKEND=torch`` runs every module on the torch reference (and ``EventLinear`` in
``mode="auto"`` dense); ``cpp`` insists on the fused kernels wherever a kernel exists for the model
(modules with no kernel for their model, e.g. ``Izhikevich``, still run the reference) and raises
:class:`~spikeforge.kernels.BackendUnavailableError` where they cannot run; ``triton`` likewise for
the Triton kernels.

``"auto"`` never changes results, but falling back to the reference because the kernels cannot be
built (no compiler and nothing cached, a failed build) is a surprise worth one
:class:`KernelUnavailableWarning` per process, with the reason.
"""

from __future__ import annotations

import os
import warnings

from ._build import BackendUnavailableError, load_library

__all__ = ["ENV_VAR", "KernelUnavailableWarning", "forced_backend", "fused_available", "resolve_backend",
           "warn_unavailable"]

ENV_VAR = "SPIKEFORGE_BACKEND"
_CHOICES = ("auto", "torch", "cpp", "triton")
_warned = False


class KernelUnavailableWarning(RuntimeWarning):
    """``backend="auto"`` runs the torch reference because the fused kernels cannot be loaded."""


def forced_backend() -> str | None:
    """The backend named by ``SPIKEFORGE_BACKEND``, or ``None`` when it is unset or empty."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        return None
    if value not in _CHOICES:
        raise ValueError(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a backend; valid: {list(_CHOICES)} (or unset)")
    return value


def resolve_backend(requested: str, has_kernel: bool = True) -> str:
    """``requested``, unless ``SPIKEFORGE_BACKEND`` overrides it.

    ``has_kernel``: whether a fused kernel exists for the module's model at all; forcing ``"cpp"``
    (or ``"triton"``) on a module without one leaves it on ``"auto"`` (which runs the reference).
    """
    forced = forced_backend()
    if forced is None:
        return requested
    return "auto" if forced in ("cpp", "triton") and not has_kernel else forced


def warn_unavailable(reason: object) -> None:
    """Warn (once per process) that ``"auto"`` runs the reference because the kernels cannot load."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"spikeforge: the fused C++ kernels are unavailable, so backend='auto' runs the "
                      f"(slower) torch reference; results are the same. Reason: {reason}",
                      KernelUnavailableWarning, stacklevel=4)


def fused_available() -> bool:
    """Whether ``"auto"`` may use the fused kernels: they load, and ``SPIKEFORGE_BACKEND`` is not ``torch``.

    The first time they cannot be loaded, warns once per process (:class:`KernelUnavailableWarning`)
    with the reason.
    """
    if forced_backend() == "torch":
        return False
    try:
        load_library()
        return True
    except BackendUnavailableError as e:
        warn_unavailable(e)
        return False
