"""Nothing the per-call glue of the fused LIF path reuses from one call to the next goes stale (issue 17).

The glue reads the parameters straight from the module's parameter/buffer dicts, memoises the
coefficients and the resting state by value (``kernels/cpu.py::_coefficients``, ``neurons/lif.py::_rest``;
``test_lif_glue_memo.py`` covers every key) and remembers each function's qualified name
(``kernels/specs.py``). None of that may go stale: every call must follow a parameter changed in
place, through ``.data`` (invisible to version counters), or replaced, and a new dtype or shape.
The reference is a fresh module with the new values on the ``"torch"`` backend (the loop of
``lif_step``), whose spikes the kernel matches bit for bit.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels import BackendUnavailableError
from spikeforge.kernels.specs import reset_code, spec_for
from spikeforge.neurons import LIF
from spikeforge.neurons.lif import LIFState, lif_step
from spikeforge.surrogate import FastSigmoid


def _layer(backend: str, **params: float) -> LIF:
    # the bench layer (spikeforge.bench.peers.lif_layer) with the given parameters
    return LIF.from_decay(params.pop("beta", 0.9), reset="zero", detach_reset=True,
                          surrogate=FastSigmoid(slope=25.0), backend=backend, **params)


def _check(layer: LIF, xs: torch.Tensor, **params: float) -> None:
    """``layer``'s spikes, final state and input gradient equal a fresh reference module's with ``params``,
    started from an explicit resting state ``v_leak`` (not from the ``init_state`` under test)."""
    ref = _layer("torch", **params)
    x1, x2 = xs.clone().requires_grad_(), xs.clone().requires_grad_()
    z1, s1 = layer.run(x1)
    z2, s2 = ref.run(x2, LIFState(torch.full(xs.shape[1:], params.get("v_leak", 0.0), dtype=xs.dtype)))
    assert torch.equal(z1, z2)
    torch.testing.assert_close(s1.v, s2.v, rtol=0, atol=0)
    (z1.sum() + s1.v.sum()).backward()
    (z2.sum() + s2.v.sum()).backward()
    torch.testing.assert_close(x1.grad, x2.grad)


def _input(T: int, B: int, N: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, N, generator=g, dtype=dtype) * 0.6)  # [T, B, N]: some neurons spike, some not


def test_parameter_changes_between_calls_are_followed() -> None:
    layer, xs = _layer("cpp"), _input(12, 4, 33)
    _check(layer, xs)
    with torch.no_grad():
        layer.v_th.fill_(0.45)  # in place: bumps the version counter
    _check(layer, xs, v_th=0.45)
    layer.beta.data.fill_(0.7)  # through .data: the version counter does not see it
    _check(layer, xs, v_th=0.45, beta=0.7)
    layer.v_leak = torch.tensor(0.2)  # a new buffer object: the resting state moves with it
    _check(layer, xs, v_th=0.45, beta=0.7, v_leak=0.2)


def test_dtype_and_shape_changes_between_calls_are_followed() -> None:
    layer = _layer("cpp", v_leak=0.1)
    for xs in (_input(12, 4, 33), _input(12, 4, 33, torch.float64, seed=1), _input(3, 2, 5, seed=2),
               _input(7, 1, 1, torch.float64, seed=3), _input(12, 4, 33, seed=4)):
        z, s = layer.run(xs)
        assert z.dtype == s.v.dtype == xs.dtype and z.shape == xs.shape and s.v.shape == xs.shape[1:]
        _check(layer, xs, v_leak=0.1)


def test_resting_state_is_the_leak_potential_in_the_input_dtype() -> None:
    layer = _layer("cpp", v_leak=-0.0)
    v = layer.init_state(torch.zeros(3, 4, dtype=torch.float64)).v
    assert v.dtype == torch.float64 and v.shape == (3, 4) and v.stride() == (0, 0)
    assert torch.equal(v, torch.zeros(3, 4, dtype=torch.float64)) and not torch.signbit(v).any()  # 0 + -0.0
    layer.v_leak.fill_(0.25)
    assert torch.equal(layer.init_state(torch.zeros(3, 4, dtype=torch.float64)).v,
                       torch.full((3, 4), 0.25, dtype=torch.float64))


def test_function_names_stay_per_function() -> None:
    assert spec_for(lif_step) is not None and spec_for(lif_step) is spec_for(lif_step)
    assert reset_code(lambda v, z, v_th, v_reset: v) is None  # a custom reset: no kernel code, every time

    def reset_subtract(v: torch.Tensor, z: torch.Tensor, v_th: torch.Tensor, v_reset: torch.Tensor) -> torch.Tensor:
        return v - z * v_th  # the library's name, another module: not the library's reset

    assert reset_code(reset_subtract) is None and reset_code(reset_subtract) is None
    layer = LIF(reset=reset_subtract, backend="cpp")
    for _ in range(2):
        with pytest.raises(BackendUnavailableError, match="custom reset"):
            layer(torch.rand(3, 2, 4))
