"""The compiled (GPU) path of the Triton kernels, checked on a machine without a GPU: Triton compiles
them all the way to a cubin for an sm_80 target here, so a kernel that only the interpreter accepts
(type changes in a loop, scoping of compile-time branches) fails this test, and the PTX shows
whether any multiply-add was contracted into an FMA (which would round differently from torch's
separate multiply and add kernels, and could change spikes)."""

from __future__ import annotations

import pytest

triton = pytest.importorskip("triton")
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from spikeforge.kernels import _triton_src  # noqa: E402

TARGET = GPUTarget("cuda", 80, 32)
FWD_PTRS = "x z i0 v0 a0 iT vT aT c1p c2p c3p vthp vrp ci1p ci2p adp cap".split()
BWD_PTRS = ("x gz gx i0 v0 a0 giT gvT gaT gi0 gv0 ga0 c1p c2p c3p vthp vrp ci1p ci2p adp cap gc sg_ptr "
            "V1 VP IB AB").split()


def _ptx(fn, ptrs, consts, fusion: bool, dtype: str = "fp32") -> str:
    types = {n: f"*{dtype}" for n in ptrs}
    types.update(first_bad="*i32", T="i32", M="i32", gz_st="i32", gz_sm="i32")
    sig = {n: types.get(n, "constexpr") for n in fn.arg_names}
    src = ASTSource(fn=fn, signature=sig, constexprs=consts)
    return triton.compile(src, target=TARGET, options={"enable_fp_fusion": fusion}).asm["ptx"]


@pytest.mark.parametrize("dtype", ["fp32", "fp64"])
def test_kernels_compile_for_gpu_without_fma(monkeypatch, dtype):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    k = _triton_src.build()  # jitted for compilation, not the interpreter
    fwd = {"KIND": 1, "RESET": 1, "CHECK": True, "BLOCK": 128}  # CubaLIF, reset to value, checked
    bwd = {"KIND": 2, "RESET": 0, "DETACH": False, "SG_KIND": 2, "NEEDP": True, "BLOCK": 128}  # ALIF, atan
    assert "fma" not in _ptx(k.lif_forward, FWD_PTRS, fwd, fusion=False, dtype=dtype)
    assert "fma" not in _ptx(k.lif_backward, BWD_PTRS, bwd, fusion=False, dtype=dtype)
    # control: with contraction allowed the same source does produce FMAs, so the check above can fail
    assert "fma" in _ptx(k.lif_forward, FWD_PTRS, fwd, fusion=True, dtype=dtype)
