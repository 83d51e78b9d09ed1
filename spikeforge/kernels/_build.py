"""Lazy build of the C++ kernels into a shared library, cached on disk, loaded with ctypes.

Nothing is compiled at ``pip install`` time. The first fused call compiles the C++ files shipped
in ``spikeforge/kernels/csrc/`` with the system C++ compiler (announced on stderr)
into ``$XDG_CACHE_HOME/spikeforge/kernels/<hash>/`` (``~/.cache`` when ``XDG_CACHE_HOME`` is
unset); later processes load the cached library in milliseconds, with or without a compiler on
``PATH``. The cache key covers the sources, the flags and the CPU (the build uses
``-march=native``); the library's file name records the compiler that built it. Objects are
cached per source file (``<cache>/objects``), so after editing one ``.cpp`` only that file recompiles
before the link; concurrent first calls wait on a file lock and build once. With neither a
compiler nor a cached build the library is unavailable: asking for the ``"cpp"`` backend by name
then raises :class:`BackendUnavailableError`, and ``"auto"`` uses the torch reference (with one
warning per process, see :mod:`._policy`).

We build a plain C ABI (no torch headers) rather than a torch extension because it compiles in
seconds instead of a minute and does not depend on the torch C++ ABI; tensors cross the
boundary as data pointers of contiguous CPU tensors.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["BackendUnavailableError", "load_library", "build_info", "default_cache_dir", "source_files"]

CFLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", "-fPIC",
          "-std=c++17"]
LDFLAGS = ["-shared", "-fopenmp"]
SRC_DIR = Path(__file__).with_name("csrc")
LIB_PREFIX = "spikeforge_kernels-"


class BackendUnavailableError(RuntimeError):
    """A backend was requested by name but cannot run here (no compiler, build failure, device)."""


_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_error: str | None = None
_info: dict[str, object] = {}


def default_cache_dir() -> Path:
    """Where built kernels are cached: ``$XDG_CACHE_HOME/spikeforge/kernels`` (default ``~/.cache``).

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG base-directory specification asks.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "spikeforge" / "kernels"


def source_files() -> list[Path]:
    """The C++ translation units of the kernel library (``csrc/*.cpp``, which include ``csrc/*.h``)."""
    return sorted(SRC_DIR.glob("*.cpp"))


def _source_digest() -> str:
    """Hash of every file the build reads (``.cpp`` and ``.h``, names and contents)."""
    h = hashlib.sha256()
    for path in sorted([*SRC_DIR.glob("*.cpp"), *SRC_DIR.glob("*.h")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


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


def cache_key() -> str:
    """Directory name of this build in the cache: sources, flags, CPU and architecture."""
    parts = [_source_digest(), " ".join(CFLAGS + LDFLAGS), _cpu_key(), platform.machine()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _lib_name(cxx: str) -> str:
    return f"{LIB_PREFIX}{hashlib.sha256(cxx.encode()).hexdigest()[:8]}.so"


def _object_name(src: Path, cxx: str, headers: str) -> str:
    """Cache file name of one translation unit's object: its source, the headers, flags, CPU, compiler."""
    parts = [src.name, hashlib.sha256(src.read_bytes()).hexdigest(), headers, " ".join(CFLAGS), _cpu_key(),
             platform.machine(), cxx]
    return f"{src.stem}-{hashlib.sha256(chr(0).join(parts).encode()).hexdigest()[:16]}.o"


def _headers_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(SRC_DIR.glob("*.h")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _compile(cxx: str, out_dir: Path, lib_path: Path) -> None:
    """Compile the sources whose object is not cached yet (in parallel), then link ``lib_path`` atomically.

    Objects are cached per translation unit in ``<cache>/objects`` (keyed by the file, every header,
    the flags, the CPU and the compiler), so editing one ``.cpp`` recompiles that file only; a header
    edit recompiles everything.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    obj_dir = out_dir.parent / "objects"
    obj_dir.mkdir(parents=True, exist_ok=True)
    headers = _headers_digest()
    objs = {src: obj_dir / _object_name(src, cxx, headers) for src in source_files()}
    todo = [src for src, obj in objs.items() if not obj.exists()]
    print(f"spikeforge: compiling the C++ kernels with {cxx} ({len(todo)} of {len(objs)} files; once per "
          f"machine and version, ~15 s) into {out_dir} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    errors: list[str] = []
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        fresh = {src: Path(tmp) / objs[src].name for src in todo}
        procs = {src: subprocess.Popen([cxx, *CFLAGS, "-c", str(src), "-o", str(fresh[src])], stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
                 for src in todo}
        for src, proc in procs.items():
            out = proc.communicate()[0]
            if proc.returncode != 0:
                errors.append(out)
            else:
                os.replace(fresh[src], objs[src])  # atomic: a concurrent builder never sees a torn object
        if not errors:
            so = Path(tmp) / "lib.so"
            link = subprocess.run([cxx, *map(str, objs.values()), *LDFLAGS, "-o", str(so)], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
            if link.returncode != 0:
                errors.append(link.stdout)
            else:
                os.replace(so, lib_path)  # atomic: concurrent builders never see a torn file
    if errors:
        print("spikeforge: building the C++ kernels failed", file=sys.stderr, flush=True)
        raise BackendUnavailableError("building the 'cpp' kernels failed:\n" + "\n".join(errors)[-4000:])
    print(f"spikeforge: C++ kernels built in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _build_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive file lock on ``out_dir`` so concurrent processes build once and share it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - not POSIX: concurrent builders each build (still atomic)
        yield
        return
    with open(out_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build(cache_dir: Path) -> ctypes.CDLL:
    out_dir = cache_dir / cache_key()
    t0 = time.perf_counter()
    cxx = _compiler()
    built = False
    if cxx is None:  # no compiler: any cached build of these sources for this CPU will do
        cached = sorted(out_dir.glob(f"{LIB_PREFIX}*.so"), key=lambda p: p.stat().st_mtime)
        if not cached:
            raise BackendUnavailableError(
                f"the 'cpp' backend needs a C++ compiler (g++/clang++) on PATH to build its kernels, and no "
                f"build of this version is cached in {out_dir}; use backend='torch' or install one")
        lib_path = cached[-1]
    else:
        lib_path = out_dir / _lib_name(cxx)
        if not lib_path.exists():
            with _build_lock(out_dir):
                if not lib_path.exists():  # another process may have built it while we waited
                    _compile(cxx, out_dir, lib_path)
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
        f.argtypes = [I, I, L, L, P, P, P, P, P, I, I, P, L]
        f.restype = I
        b = getattr(lib, f"sf_backward_{suf}")
        b.argtypes = [I, I, I, I, D, L, L, P, P, L, L, P, P, P, P, P, P, I, I, L]
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
