"""Non-finite inputs and states in the fused kernels: the same error as the torch reference
(module, time step, index) while the check is on; bit-identical IEEE propagation when it is off."""

from __future__ import annotations

import pytest
import torch
from _fused import NEURONS, READOUTS  # fused neurons from the registry

from spikeforge.kernels import available_backends, run_fused
from spikeforge.neurons import LIF
from spikeforge.numerics import NonFiniteError, allow_nonfinite

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

ALL = {**NEURONS, **READOUTS}


def _make(name: str, backend: str):
    return ALL[name](backend=backend)


def _error(m, xs, state=None) -> str:
    with pytest.raises(NonFiniteError) as info:
        m.run(xs, state)
    return str(info.value)


def _equal_ieee(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal bit for bit where finite, and NaN / +-inf in the same places."""
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", list(ALL))
def test_bad_input_same_error_on_both_backends(name, bad, gen):
    xs = torch.rand(12, 3, 5, generator=gen) * 2
    xs[7, 1, 2] = bad
    xs[9, 0, 0] = float("nan")  # a later one is not the one reported
    cls = ALL[name].__name__
    for backend in ("torch", "cpp"):
        msg = _error(_make(name, backend), xs)
        assert f"{cls}:" in msg and "input" in msg and "time step 7, index (1, 2)" in msg, (backend, msg)


@pytest.mark.parametrize("name", list(ALL))
def test_bad_initial_state_same_error_kind(name, gen):
    xs = torch.rand(6, 2, 4, generator=gen)
    for backend in ("torch", "cpp"):
        m = _make(name, backend)
        state = m.init_state(xs[0])
        state = type(state)(*(s.clone() for s in state))
        state[-1][1, 3] = float("nan")
        msg = _error(m, xs, state)
        assert "state" in msg and "(1, 3)" in msg, (backend, msg)


@pytest.mark.parametrize("name", list(ALL))
def test_state_that_overflows_is_caught(name):
    """Finite inputs whose membrane overflows to inf (no reset) are reported as the state's fault."""
    xs = torch.full((30, 1, 3), 3e38)
    xs[:, 0, 0] = 0.0
    # v -> 4 * 3e38 > float32 max (IF's and the integrator's drive is dt * r * x, and dt = 1 ms)
    kw = {"r": 4e3 if name in ("if", "i") else 4.0, **({"reset": "none"} if ALL[name].spiking else {})}
    msg = _error(ALL[name](backend="cpp", **kw), xs)
    assert "non-finite state v" in msg and "index (0, 1)" in msg, msg
    assert "index (0, 1)" in _error(ALL[name](backend="torch", **kw), xs)


def test_first_bad_value_in_time_then_index_order_across_blocks_and_layouts(gen, many_threads):
    """Several bad values in several kernel blocks (512 neurons each), on several threads, through a
    channels-last input: the reported one is the first in (time, index) order, in the caller's dims."""
    dense = torch.rand(8, 2, 6, 15, 15, generator=gen)  # [T, B, C, H, W]: 2700 neurons
    dense[5, 1, 0, 0, 1] = float("nan")
    dense[5, 0, 4, 14, 2] = float("inf")  # the first at t = 5 in row-major order
    dense[6, 0, 0, 0, 0] = float("nan")
    cl = dense.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (8, 2))
    for xs in (dense, cl):
        for backend in ("torch", "cpp"):
            msg = _error(LIF(backend=backend), xs)
            assert "time step 5, index (0, 4, 14, 2)" in msg, (backend, msg)


@pytest.mark.parametrize("name", list(ALL))
def test_opt_out_propagates_exactly_like_the_reference(name, gen):
    xs = torch.rand(15, 3, 700, generator=gen) * 2  # two kernel blocks
    xs[3, 0, 1] = float("nan")
    xs[4, 2, 600] = float("inf")
    xs[5, 1, 2] = -float("inf")
    with allow_nonfinite():
        z0, s0 = _make(name, "torch").run(xs)
        z1, s1 = _make(name, "cpp").run(xs)
    _equal_ieee(z1, z0)
    for a, b in zip(s0, s1):
        _equal_ieee(b, a)
    assert not all(torch.isfinite(s).all() for s in s1)  # the values did propagate


def test_where_names_the_module_and_defaults_for_direct_calls(gen):
    xs = torch.rand(4, 2, 3, generator=gen)
    xs[2, 1, 1] = float("nan")
    m = LIF()
    args = (LIF.step_fn, xs, m.init_state(xs[0]), m._params_for(xs), m.step_kwargs())
    with pytest.raises(NonFiniteError, match=r"^encoder\.lif: non-finite input"):
        run_fused("cpp", *args, where="encoder.lif")
    with pytest.raises(NonFiniteError, match="time step 2, index \\(1, 1\\)"):
        run_fused("cpp", *args)
