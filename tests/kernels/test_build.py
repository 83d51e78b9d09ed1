"""The kernels as a user meets them: build cache, compiler lookup, build messages, fallback
warning, the SPIKEFORGE_BACKEND override, XDG_CACHE_HOME."""

from __future__ import annotations

import shutil
import stat
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from spikeforge.kernels import BackendUnavailableError, KernelUnavailableWarning, _build, _policy, available_backends
from spikeforge.kernels._build import build_info, cache_key, default_cache_dir, load_library
from spikeforge.layers import TimeDistributed
from spikeforge.layers.sparse_linear import EventLinear
from spikeforge.neurons import LIF, Izhikevich

needs_cpp = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

FAKE_CXX = """#!/bin/sh
# Stand-in compiler: logs its arguments; objects are empty files, the link step copies a real build.
echo "$@" >> "{log}"
out=""; shared=0
while [ $# -gt 0 ]; do case "$1" in -o) out="$2"; shift;; -shared) shared=1;; esac; shift; done
if [ $shared = 1 ]; then "{cp}" "{real}" "$out"; else : > "$out"; fi
"""


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that has not loaded the kernels yet (the loaded library comes back afterwards)."""
    monkeypatch.setattr(_build, "_lib", None)
    monkeypatch.setattr(_build, "_error", None)
    monkeypatch.setattr(_build, "_info", {})
    monkeypatch.setattr(_policy, "_warned", False)
    monkeypatch.delenv("SPIKEFORGE_BACKEND", raising=False)


def _real_library() -> Path:
    load_library()
    return Path(str(build_info()["path"]))


@needs_cpp
def test_cached_build_is_used_without_a_compiler(tmp_path, monkeypatch, fresh):
    real = _real_library()
    monkeypatch.setattr(_build, "_lib", None)
    lib_dir = tmp_path / cache_key()
    lib_dir.mkdir()
    shutil.copy(real, lib_dir / "spikeforge_kernels-0123abcd.so")  # built earlier, by some compiler
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no compiler on PATH
    assert _build._compiler() is None
    lib = load_library(tmp_path)
    assert lib.sf_abi_version() == 1
    info = build_info()
    assert info["path"] == str(lib_dir / "spikeforge_kernels-0123abcd.so") and info["built_now"] is False


def test_no_compiler_and_no_cache_names_both(tmp_path, monkeypatch, fresh):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BackendUnavailableError, match="C\\+\\+ compiler.*no build of this version is cached in"):
        load_library(tmp_path)


@needs_cpp
def test_build_is_announced_with_its_duration_and_compiles_the_package_files(tmp_path, monkeypatch, capsys, fresh):
    real = _real_library()
    monkeypatch.setattr(_build, "_lib", None)
    log = tmp_path / "cxx.log"
    cxx = tmp_path / "bin" / "g++"
    cxx.parent.mkdir()
    cxx.write_text(FAKE_CXX.format(log=log, real=real, cp=shutil.which("cp")))
    cxx.chmod(cxx.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(cxx.parent))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    capsys.readouterr()
    assert load_library().sf_abi_version() == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "compiling the C++ kernels" in err[0] and str(tmp_path / "xdg") in err[0], err
    assert err[1].startswith("spikeforge: C++ kernels built in ") and err[1].endswith(" s"), err
    assert build_info()["built_now"] is True
    assert Path(str(build_info()["path"])).is_relative_to(tmp_path / "xdg" / "spikeforge" / "kernels")
    compiled = {Path(line.split(" -c ")[1].split()[0]) for line in log.read_text().splitlines() if " -c " in line}
    assert compiled == set(_build.source_files()) and all(p.suffix == ".cpp" and p.is_file() for p in compiled)
    # a second process finds it in the cache: no message, nothing built
    monkeypatch.setattr(_build, "_lib", None)
    load_library()
    assert capsys.readouterr().err == "" and build_info()["built_now"] is False


def test_cache_dir_honours_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "spikeforge" / "kernels"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # not absolute: ignored, as the spec says
    assert default_cache_dir() == Path.home() / ".cache" / "spikeforge" / "kernels"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "spikeforge" / "kernels"


def test_cache_key_covers_every_source_file(tmp_path, monkeypatch):
    src = tmp_path / "csrc"
    shutil.copytree(_build.SRC_DIR, src)
    monkeypatch.setattr(_build, "SRC_DIR", src)
    key = cache_key()
    assert {p.suffix for p in src.iterdir()} >= {".cpp", ".h"}
    for path in sorted(src.iterdir()):
        text = path.read_text()
        path.write_text(text + "\n// edited\n")
        assert cache_key() != key, path.name
        path.write_text(text)
    assert cache_key() == key


def test_auto_warns_once_with_the_reason_when_kernels_are_unavailable(monkeypatch, fresh, gen):
    monkeypatch.setattr(_build, "_error", "no C++ compiler (test)")
    xs = torch.rand(5, 2, 4, 6, 6, generator=gen)
    with pytest.warns(KernelUnavailableWarning, match="no C\\+\\+ compiler \\(test\\)") as record:
        z = LIF().run(xs)[0]
        TimeDistributed(nn.AvgPool2d(2))(xs)
        EventLinear(36, 64)((xs > 0.9).float().flatten(-2))
        LIF().run(xs)
    assert len([w for w in record if w.category is KernelUnavailableWarning]) == 1
    assert torch.equal(z, LIF(backend="torch").run(xs)[0])
    with pytest.raises(BackendUnavailableError, match="test"):
        LIF(backend="cpp").run(xs)


def test_each_fused_layer_warns_when_it_falls_back(monkeypatch, fresh, gen):
    monkeypatch.setattr(_build, "_error", "no C++ compiler (test)")
    xs = torch.rand(5, 2, 4, 6, 6, generator=gen)
    spikes = (xs > 0.9).float().flatten(-2)  # [T, B, C, 36]
    for run in (lambda: TimeDistributed(nn.AvgPool2d(2))(xs), lambda: EventLinear(36, 64)(spikes)):
        monkeypatch.setattr(_policy, "_warned", False)
        with pytest.warns(KernelUnavailableWarning, match="test"):
            run()


def test_no_warning_when_no_kernel_was_expected(monkeypatch, fresh, gen):
    monkeypatch.setattr(_build, "_error", "no C++ compiler (test)")
    xs = torch.rand(5, 2, 4, generator=gen)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Izhikevich().run(xs)  # no kernel for this model
        LIF(backend="torch").run(xs)
        monkeypatch.setenv("SPIKEFORGE_BACKEND", "torch")
        LIF().run(xs)


def _fused(z: torch.Tensor) -> bool:
    """Whether ``z`` came out of the fused kernel (its autograd node, behind the reshape)."""
    nodes = [z.grad_fn, *(f for f, _ in z.grad_fn.next_functions if f is not None)]
    return any("FusedRun" in type(f).__name__ for f in nodes)


def _pooled(y: torch.Tensor) -> bool:
    """Whether ``y`` came out of the fused pooling kernel."""
    nodes = [y.grad_fn, *(f for f, _ in y.grad_fn.next_functions if f is not None)]
    return any("_AvgPool" in type(f).__name__ for f in nodes)


@needs_cpp
def test_backend_environment_variable_forces_a_backend(monkeypatch, gen):
    xs = torch.rand(5, 2, 4, generator=gen).requires_grad_()
    assert _fused(LIF(backend="cpp").run(xs)[0]) and not _fused(LIF(backend="torch").run(xs)[0])
    pools = [TimeDistributed(nn.AvgPool2d(2), backend=b) for b in ("auto", "cpp", "torch")]
    images = torch.rand(3, 2, 4, 6, 6, generator=gen).requires_grad_()
    fc, spikes = EventLinear(36, 64), (images.detach() > 0.9).float().flatten(-2)
    assert [_pooled(p(images)) for p in pools] == [True, True, False] and fc.uses_event_path(spikes)
    monkeypatch.setenv("SPIKEFORGE_BACKEND", "torch")
    assert not _fused(LIF(backend="cpp").run(xs)[0]) and not _fused(LIF().run(xs)[0])
    assert [_pooled(p(images)) for p in pools] == [False, False, False] and not fc.uses_event_path(spikes)
    monkeypatch.setenv("SPIKEFORGE_BACKEND", "cpp")
    assert _fused(LIF(backend="torch").run(xs)[0]) and _fused(LIF().run(xs)[0])
    assert [_pooled(p(images)) for p in pools] == [True, True, True]
    Izhikevich().run(xs)  # no kernel for this model: still the reference, no error
    TimeDistributed(nn.MaxPool2d(2), backend="torch")(images)  # likewise
    monkeypatch.setenv("SPIKEFORGE_BACKEND", "")
    assert _fused(LIF().run(xs)[0])
    monkeypatch.setenv("SPIKEFORGE_BACKEND", "cuda")
    with pytest.raises(ValueError, match="SPIKEFORGE_BACKEND='cuda'"):
        LIF().run(xs)


def _fake_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, delay: float = 0.0) -> Path:
    """Put a logging stand-in ``g++`` first on PATH; returns its log (one line per invocation)."""
    log = tmp_path / "cxx.log"
    cxx = tmp_path / "bin" / "g++"
    cxx.parent.mkdir(exist_ok=True)
    script = FAKE_CXX.format(log=log, real=_real_library(), cp=shutil.which("cp"))
    cxx.write_text(script.replace("echo ", f"sleep {delay}; echo ", 1))
    cxx.chmod(cxx.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{cxx.parent}:/usr/bin:/bin")
    return log


def _compiled(log: Path) -> list[str]:
    return sorted(Path(ln.split(" -c ")[1].split()[0]).name for ln in log.read_text().splitlines() if " -c " in ln)


@needs_cpp
def test_editing_one_source_recompiles_only_that_file(tmp_path, monkeypatch, fresh):
    src = tmp_path / "csrc"
    shutil.copytree(_build.SRC_DIR, src)
    log = _fake_compiler(tmp_path, monkeypatch)
    monkeypatch.setattr(_build, "SRC_DIR", src)
    cache = tmp_path / "cache"
    _build._build(cache)
    names = sorted(p.name for p in src.glob("*.cpp"))
    assert _compiled(log) == names and _build.build_info()["built_now"] is True
    log.write_text("")
    (src / "pool.cpp").write_text((src / "pool.cpp").read_text() + "\n// edited\n")
    _build._build(cache)  # a new library (new cache key), one object recompiled, all linked
    assert _compiled(log) == ["pool.cpp"]
    assert sum(" -shared" in ln for ln in log.read_text().splitlines()) == 1
    log.write_text("")
    header = next(iter(sorted(src.glob("*.h"))))
    header.write_text(header.read_text() + "\n// edited\n")
    _build._build(cache)  # a header may be included anywhere: everything recompiles
    assert _compiled(log) == names


@needs_cpp
def test_concurrent_builders_compile_each_file_once(tmp_path, monkeypatch, fresh):
    import threading

    log = _fake_compiler(tmp_path, monkeypatch, delay=0.3)
    cache = tmp_path / "cache"
    errors: list[BaseException] = []

    def build() -> None:
        try:
            _build._build(cache)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _compiled(log) == sorted(p.name for p in _build.source_files())  # each once, not three times
