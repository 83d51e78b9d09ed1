"""Lazy build of the C++ kernels into a shared library, cached on disk, loaded with ctypes.

Nothing is compiled at ``pip install`` time. The first fused call compiles
:data:`._cpu_source.SOURCE` with the system C++ compiler (a few seconds) into
``~/.cache/spikeforge/kernels/<hash>/``; later processes load the cached library in
milliseconds. The cache key covers the source, the flags, the compiler and the CPU (the build
uses ``-march=native``). Without a compiler the library is simply unavailable: asking for the
``"cpp"`` backend by name then raises :class:`BackendUnavailableError`, and ``"auto"`` uses the
torch reference.

We build a plain C ABI (no torch headers) rather than a torch extension because it compiles in
seconds instead of a minute and does not depend on the torch C++ ABI; tensors cross the
boundary as data pointers of contiguous CPU tensors.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ._cpu_source import SOURCE

__all__ = ["BackendUnavailableError", "load_library", "build_info", "default_cache_dir"]

FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", "-fPIC",
         "-shared", "-std=c++17"]


class BackendUnavailableError(RuntimeError):
    """A backend was requested by name but cannot run here (no compiler, build failure, device)."""


_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_error: str | None = None
_info: dict[str, object] = {}


def default_cache_dir() -> Path:
    """Where built kernels are cached: ``~/.cache/spikeforge/kernels``."""
    return Path.home() / ".cache" / "spikeforge" / "kernels"


def _compiler() -> str | None:
    for name in ("g++", "c++", "clang++"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _cpu_key() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))][:2]
        return "\n".join(lines)
    except OSError:
        return platform.processor()


def _build(cache_dir: Path) -> ctypes.CDLL:
    cxx = _compiler()
    if cxx is None:
        raise BackendUnavailableError("the 'cpp' backend needs a C++ compiler (g++/clang++) on PATH; "
                                      "use backend='torch' or install one")
    key = hashlib.sha256("\0".join([SOURCE, " ".join(FLAGS), cxx, _cpu_key(), platform.machine()])
                         .encode()).hexdigest()[:16]
    out_dir = cache_dir / key
    lib_path = out_dir / "spikeforge_kernels.so"
    t0 = time.perf_counter()
    built = False
    if not lib_path.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        src = out_dir / "spikeforge_kernels.cpp"
        src.write_text(SOURCE)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
        os.close(fd)
        proc = subprocess.run([cxx, *FLAGS, str(src), "-o", tmp], capture_output=True, text=True)
        if proc.returncode != 0:
            os.unlink(tmp)
            raise BackendUnavailableError(f"building the 'cpp' kernels failed:\n{proc.stderr[-4000:]}")
        os.replace(tmp, lib_path)  # atomic: concurrent builders never see a torn file
        built = True
    lib = ctypes.CDLL(str(lib_path))
    _info.update(path=str(lib_path), built_now=built, seconds=time.perf_counter() - t0, compiler=cxx)
    _declare(lib)
    return lib


def _declare(lib: ctypes.CDLL) -> None:
    P, I, L, D = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_double  # noqa: E741 (C types)
    for suf in ("f32", "f64", "u8_f32", "u8_f64"):
        e = getattr(lib, f"sf_event_linear_{suf}")
        e.argtypes = [L, L, L, P, P, P, P, I]
        e.restype = I
        g = getattr(lib, f"sf_event_linear_grad_w_{suf}")
        g.argtypes = [L, L, L, P, P, P, I]
        g.restype = I
    for suf in ("f32", "f64"):
        for name in (f"sf_avgpool_fwd_{suf}", f"sf_avgpool_bwd_{suf}"):
            fn = getattr(lib, name)
            fn.argtypes = [L, L, L, L, L, P, P, P, P, I]
            fn.restype = I
        f = getattr(lib, f"sf_forward_{suf}")
        f.argtypes = [I, I, L, L, P, P, P, P, P, I]
        f.restype = I
        b = getattr(lib, f"sf_backward_{suf}")
        b.argtypes = [I, I, I, I, D, L, L, P, P, L, L, P, P, P, P, P, P, I, I]
        b.restype = I


def load_library(cache_dir: Path | None = None) -> ctypes.CDLL:
    """Return the kernel library, building it on first use; raises :class:`BackendUnavailableError`."""
    global _lib, _error
    with _lock:
        if _lib is not None:
            return _lib
        if _error is not None:
            raise BackendUnavailableError(_error)
        try:
            _lib = _build(cache_dir or default_cache_dir())
        except BackendUnavailableError as e:
            _error = str(e)
            raise
        except OSError as e:
            _error = f"loading the 'cpp' kernels failed: {e}"
            raise BackendUnavailableError(_error) from e
        return _lib


def build_info() -> dict[str, object]:
    """Path of the loaded library and the seconds the first load took (compile + dlopen)."""
    return dict(_info)
