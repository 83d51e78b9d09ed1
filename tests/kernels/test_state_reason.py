"""``cpu.state_reason``: the one check of a state handed to a kernel (the LIF driver and every model
kernel's ``supports`` use it), naming what is wrong."""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels.cpu import state_reason
from spikeforge.kernels.model_kernels import MODEL_KERNELS, model_kernel_for
from spikeforge.neurons import NEURONS, LIFState
from spikeforge.neurons.cuba_lif import CubaLIFState

XS = torch.zeros(4, 2, 3)  # [T, B, N]


def test_a_matching_state_passes() -> None:
    assert state_reason(XS, CubaLIFState(torch.zeros(2, 3), torch.zeros(2, 3)), ("i", "v")) is None


def test_each_problem_is_named() -> None:
    assert "expected fields ('v',)" in str(state_reason(XS, (torch.zeros(2, 3),), ("v",)))  # plain tuple
    assert "expected fields ('i', 'v')" in str(state_reason(XS, LIFState(torch.zeros(2, 3)), ("i", "v")))
    wrong_shape = CubaLIFState(torch.zeros(2, 3), torch.zeros(3, 2))
    assert state_reason(XS, wrong_shape, ("i", "v")) == "state 'v' must be a tensor of one input step's shape (2, 3)"
    wrong_dtype = CubaLIFState(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 3))
    assert "state 'i' dtype/device (torch.float64, cpu)" in str(state_reason(XS, wrong_dtype, ("i", "v")))
    assert "state 'v' must be a tensor" in str(state_reason(XS, LIFState(v=1.0), ("v",)))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [n for n in NEURONS.names() if model_kernel_for(NEURONS.get(n).step_fn)])
def test_every_model_kernel_declines_a_state_of_the_wrong_shape(name: str) -> None:
    cls = NEURONS.get(name)
    m = cls(backend="cpp")
    xs = torch.rand(3, 2, 6)  # [T, B, N]
    _, state, kwargs = m.prepare_run(xs, None)
    bad = type(state)(*(s[:1] for s in state))  # [1, N]: one sample's state for a batch of 2
    reason = model_kernel_for(cls.step_fn).supports(xs, bad, kwargs)
    assert reason is not None and "one input step's shape" in reason, reason
    assert MODEL_KERNELS  # the registry this parametrisation is derived from is not empty
