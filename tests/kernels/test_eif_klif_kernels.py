"""What the model-kernel contract (``test_model_kernels.py``) does not reach for EIF and KLIF.

The contract runs each neuron with its default reset; here every reset the module accepts, with
and without ``detach_reset``, is compared with the torch reference (bit-identical forward and final
state, gradients of input, initial state and every parameter to float tolerance). Also: the exp
routine the EIF kernel calls is torch.exp's own (and libm's differs, which is why), the resets the
EIF kernel declines, and KLIF's non-finite check on a ``-inf`` input that its ReLU would hide.
"""

from __future__ import annotations

import ctypes
import math

import pytest
import torch

from spikeforge.kernels import BackendUnavailableError, available_backends
from spikeforge.kernels.eif_kernel import EIF_KERNEL, VML_MODE, torch_exp
from spikeforge.neurons import EIF, KLIF
from spikeforge.neurons._reset import reset_subtract
from spikeforge.numerics import NonFiniteError

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

TOL = {torch.float32: dict(rtol=2e-4, atol=2e-5), torch.float64: dict(rtol=1e-9, atol=1e-11)}


def _run(cls, backend: str, dtype: torch.dtype, xs: torch.Tensor, **kw):
    torch.manual_seed(3)
    m = cls(backend=backend, learn=cls.params_cls._fields, size=xs.shape[-1], dtype=dtype, **kw)
    with torch.no_grad():  # heterogeneous per-neuron parameters
        for p in m.parameters():
            p.mul_(1 + 0.05 * torch.rand_like(p))
    xs = xs.detach().clone().requires_grad_()
    v0 = (0.2 * torch.rand(xs.shape[1:], dtype=dtype)).requires_grad_()
    zs, final = m.run(xs, type(m.init_state(xs[0]))(v0))
    w = torch.linspace(-1, 2, zs.numel(), dtype=dtype).reshape(zs.shape)
    loss = (zs * w).sum() + (final.v * final.v).sum()
    params = [p for _, p in sorted(m.named_parameters())]
    return zs, final.v, torch.autograd.grad(loss, [xs, v0, *params], allow_unused=True)


def _assert_parity(cls, dtype, **kw):
    gen = torch.Generator().manual_seed(11)
    xs = (torch.randn(30, 4, 17, generator=gen, dtype=torch.float64) * 2 + 1.2).to(dtype)  # [T, B, N]
    z0, v0, g0 = _run(cls, "torch", dtype, xs, **kw)
    z1, v1, g1 = _run(cls, "cpp", dtype, xs, **kw)
    assert z0.sum() > 0 and (z0 == 0).any()  # spikes and silences, so every reset branch is taken
    assert torch.equal(z0, z1) and torch.equal(v0, v1)
    for a, b in zip(g0, g1, strict=True):
        if a is None or b is None:  # a parameter this reset does not read (v_reset): None or zeros
            assert all(g is None or not g.any() for g in (a, b))
            continue
        scale = a.abs().max().clamp_min(1.0)
        torch.testing.assert_close(b / scale, a / scale, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("reset", ["subtract", "value", "zero", "none"])
def test_klif_kernel_every_reset(reset, detach, dtype):
    _assert_parity(KLIF, dtype, reset=reset, detach_reset=detach, v_reset=-0.2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("reset", ["value", "zero"])
def test_eif_kernel_every_reset(reset, detach, dtype):
    _assert_parity(EIF, dtype, reset=reset, detach_reset=detach)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_eif_exp_routine_is_torch_exp_and_libm_is_not(dtype):
    addr, why = torch_exp(dtype)
    assert addr is not None, why
    fn = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(addr)
    gen = torch.Generator().manual_seed(5)
    x = (torch.randn(20_000, generator=gen, dtype=torch.float64) * 8).to(dtype)  # [N], not the probe set
    y = torch.empty_like(x)
    fn(x.numel(), x.data_ptr(), y.data_ptr(), VML_MODE)
    assert torch.equal(y, torch.exp(x))
    libm = torch.tensor([math.exp(v) for v in x.tolist()], dtype=torch.float64).to(dtype)  # correctly rounded-ish
    assert not torch.equal(libm, torch.exp(x))  # why the kernel cannot call the C library's exp


def test_eif_kernel_declines_a_soft_reset():
    m = EIF(backend="cpp")
    xs = torch.rand(4, 2, 3)
    _, state, kwargs = m.prepare_run(xs, None)
    assert "hard resets" in (EIF_KERNEL.supports(xs, state, {**kwargs, "reset": reset_subtract}) or "")
    with pytest.raises(BackendUnavailableError, match="hard resets"):
        EIF_KERNEL.run(xs, state, m.params(), {**kwargs, "reset": reset_subtract}, "EIF")


def test_klif_kernel_reports_minus_inf_input_that_relu_hides():
    xs = torch.rand(5, 2, 7)
    xs[2, 1, 3] = -math.inf  # relu(k (v + (x - v) a)) = 0: the state stays finite
    with pytest.raises(NonFiniteError, match=r"time step 2"):
        KLIF(backend="cpp")(xs)
    with pytest.raises(NonFiniteError, match=r"time step 2"):
        KLIF(backend="torch")(xs)

