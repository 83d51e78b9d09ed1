"""Non-finite policy beyond the registry contracts: unstable dynamics located by hand count,
layers, ``fit``'s guard, and the three ways to opt out."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge import numerics
from spikeforge.layers import (
    BNTT, Delay, EventLinear, RecurrentSpiking, SequenceDropout, SpikingSequential, TDBatchNorm, TimeDistributed,
)
from spikeforge.learning import fit
from spikeforge.neurons import IF, LI, LIF, IFState
from spikeforge.numerics import NonFiniteError, allow_nonfinite


def test_if_overflow_located_by_hand_count():
    # v' = v + x (dt * r = 1): 2e38 at steps 4 and 5 gives v = 2e38 (spike, -1: still 2e38), then
    # 4e38 > float32 max 3.4e38 = inf at step 5. Inputs and parameters are all finite.
    xs = torch.zeros(9, 2, 3)
    xs[4:6, 1, 2] = 2e38
    neuron = IF(backend="torch")
    with pytest.raises(NonFiniteError, match=r"^IF: non-finite state v .*\(inf\) at time step 5, index \(1, 2\)"):
        neuron.run(xs)
    with allow_nonfinite():  # raw IEEE: the same overflow, no error
        _, s = neuron.run(xs)
    assert s.v[1, 2] == math.inf and torch.isfinite(s.v.flatten()[:-1]).all()


def test_lif_overflow_located_by_hand_count():
    # a r x = (1e-3 / 10e-3) * 1e38 * 100 = 1e39 -> inf in float32 at step 6
    xs = torch.zeros(10, 1, 4)
    xs[6, 0, 3] = 100.0
    with pytest.raises(NonFiniteError, match=r"^LIF: non-finite state v .*\(inf\) at time step 6, index \(0, 3\)"):
        LIF(r=1e38, backend="torch").run(xs)


def test_step_reports_overflow_after_the_step():
    neuron = IF()
    s = IFState(v=torch.full((2, 3), 3e38))
    with pytest.raises(NonFiniteError, match=r"state v after the step \(input and state were finite\) \(inf\)"):
        neuron.step(torch.full((2, 3), 3e38), s)


def test_issue_example_raises_and_opt_outs_restore_old_behaviour(monkeypatch):
    x = torch.rand(50, 2, 4) * 3
    x[0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"LIF: non-finite input \(nan\) at time step 0, index \(0, 0\)"):
        sf.LIF(r=5.0, backend="torch").run(x)
    with pytest.raises(NonFiniteError, match=r"delta_encode: non-finite input \(nan\) at time step 0"):
        sf.encoders.delta_encode(x)
    sf.set_check_finite(False)
    try:
        zs, s = sf.LIF(r=5.0, backend="torch").run(x)
    finally:
        sf.set_check_finite(True)
    assert zs[:, 0, 0].sum() == 0 and torch.isnan(s.v[0, 0])
    for value, enabled in (("0", False), ("off", False), ("1", True), ("", True)):
        monkeypatch.setenv("SPIKEFORGE_CHECK_FINITE", value)
        assert numerics._env_default() is enabled


def _poison(xs: torch.Tensor) -> torch.Tensor:
    xs = xs.clone()
    xs[2, 1, 0] = math.nan
    return xs


@pytest.mark.parametrize("make, xs", [
    (lambda: TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), torch.rand(4, 2, 2, 5, 5)),
    (lambda: RecurrentSpiking(3, 5), torch.rand(4, 2, 3)),
    (lambda: Delay(torch.tensor([0, 1, 2])), torch.rand(4, 2, 3)),
    (lambda: EventLinear(3, 70), torch.rand(4, 2, 3)),
    (lambda: EventLinear(3, 70, mode="event"), torch.rand(4, 2, 3)),
    (lambda: EventLinear(90, 2), torch.rand(4, 2, 90)),  # output smaller than the input
    (lambda: SequenceDropout(0.2), torch.rand(4, 2, 3)),
    (lambda: TDBatchNorm(3), torch.rand(4, 2, 3)),
    (lambda: BNTT(3, steps=4), torch.rand(4, 2, 3)),
    (lambda: SpikingSequential(nn.Linear(3, 3), LI()), torch.rand(4, 2, 3)),
])
def test_layers_reject_nonfinite_input(make, xs):
    layer = make()
    name = type(layer).__name__
    with pytest.raises(NonFiniteError, match=rf"^{name}\b.*: non-finite input \(nan\) at time step 2, index \(1, 0"):
        layer(_poison(xs))
    if hasattr(layer, "run"):
        with pytest.raises(NonFiniteError, match=rf"^{name}: non-finite input"):
            layer.run(_poison(xs))
    if hasattr(layer, "step"):
        with pytest.raises(NonFiniteError, match=rf"^{name}: non-finite input \(nan\) at index \(1, 0"):
            layer.step(_poison(xs)[2])
    with allow_nonfinite():
        layer(_poison(xs))  # raw IEEE: no error


def test_event_linear_nonfinite_weight_named():
    fc = EventLinear(3, 70)
    with torch.no_grad():
        fc.weight[5, 1] = math.inf
    with pytest.raises(NonFiniteError, match=r"EventLinear: non-finite output \(from a finite input.*index \(0, 5\)"):
        fc(torch.ones(2, 1, 3))


def test_layer_states_of_wrong_shape():
    rnn = RecurrentSpiking(3, 5)
    _, s = rnn.run(torch.rand(4, 2, 3))
    with pytest.raises(ValueError, match=r"RecurrentSpiking: state.z must have shape \(3, 5\)"):
        rnn.run(torch.rand(4, 3, 3), s)
    delay = Delay(torch.tensor([0, 1, 2]))
    _, ds = delay.run(torch.rand(4, 2, 3))
    with pytest.raises(ValueError, match=r"Delay: state.buffer must have shape \(2, 3, 3\)"):
        delay.step(torch.rand(3, 3), ds)


@pytest.mark.parametrize("mode", ["dense", "event", "auto"])
def test_event_linear_bad_width_and_dtype(mode):
    fc = EventLinear(10, 80, mode=mode)
    with pytest.raises(ValueError, match=r"EventLinear: expected 10 input features on the last dim, got .*\(5, 2, 7\)"):
        fc(torch.rand(5, 2, 7))
    with pytest.raises(TypeError, match=r"EventLinear: expected a floating-point input .* got dtype torch.int64"):
        fc(torch.ones(5, 2, 10, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"input dtype torch.float64 does not match the weight dtype torch.float32"):
        fc(torch.ones(5, 2, 10, dtype=torch.float64))
    assert fc(torch.ones(5, 2, 10, dtype=torch.uint8)).shape == (5, 2, 80)  # byte spikes stay accepted


@pytest.mark.parametrize("module, shape, message", [
    (nn.Conv2d(2, 16, 3), (10, 4, 34, 34), r"expected input '\[T, B, C, H, W\]' \(5 dims\)"),
    (nn.Conv2d(40, 16, 3), (10, 4, 34, 34), r"expected input '\[T, B, C, H, W\]'"),  # T*B == C: was read unbatched
    (nn.Conv2d(2, 16, 3), (3, 4, 5, 8, 8), r"expected C = 2 channels on dim 2"),
    (nn.Conv1d(2, 4, 3), (3, 4, 2, 5, 5), r"'\[T, B, C, L\]' \(4 dims\)"),
    (nn.AvgPool2d(2), (3, 4, 8, 8), r"'\[T, B, C, H, W\]'"),
    (nn.BatchNorm2d(3), (3, 4, 5, 8, 8), r"expected C = 3 channels"),
    (nn.MaxPool3d(2), (3, 4, 2, 8, 8), r"'\[T, B, C, D, H, W\]'"),
])
def test_time_distributed_wrong_rank_or_channels(module, shape, message):
    td = TimeDistributed(module)
    with pytest.raises(ValueError, match=rf"^TimeDistributed\({type(module).__name__}\): .*{message}"):
        td(torch.rand(shape))


def test_time_distributed_right_layouts_still_work():
    assert TimeDistributed(nn.BatchNorm1d(3))(torch.rand(4, 2, 3)).shape == (4, 2, 3)
    assert TimeDistributed(nn.BatchNorm1d(3))(torch.rand(4, 2, 3, 6)).shape == (4, 2, 3, 6)
    assert TimeDistributed(nn.LazyConv2d(5, 3))(torch.rand(4, 2, 7, 6, 6)).shape == (4, 2, 5, 4, 4)
    assert TimeDistributed(nn.Flatten())(torch.rand(4, 2, 3, 6)).shape == (4, 2, 18)


def test_checkpoint_through_time_empty_sequence():
    from spikeforge.runtime import checkpoint_through_time

    net = nn.Sequential(nn.Linear(4, 3), LIF())
    with pytest.raises(ValueError, match=r"checkpoint_through_time: got an empty sequence \(T = 0"):
        checkpoint_through_time(net, torch.rand(0, 2, 4))


def _batches(xs: torch.Tensor, n: int = 3):
    y = torch.zeros(xs.shape[1], dtype=torch.long)
    return [(xs, y)] * n


def _fit(model: nn.Module, data, loss_fn=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = loss_fn or (lambda out, y: nn.functional.cross_entropy(out.mean(0), y))
    return fit(model, data, loss_fn=loss_fn, optimizer=opt, epochs=1, progress=False)


def test_fit_stops_on_nan_data_that_an_snn_would_hide():
    torch.manual_seed(0)
    snn = nn.Sequential(nn.Linear(4, 8), LIF(backend="torch"), nn.Linear(8, 2), LI(backend="torch"))
    xs = torch.rand(6, 5, 4)
    xs[2, 3, 1] = math.nan
    with pytest.raises(NonFiniteError, match=r"LIF: non-finite input \(nan\) at time step 2, index \(3, "):
        _fit(snn, _batches(xs))
    with allow_nonfinite():  # the silent failure the default prevents: training "works", loss finite
        assert math.isfinite(_fit(snn, _batches(xs)).history[0]["loss"])


def test_fit_guard_names_output_and_loss():
    xs = torch.rand(6, 5, 4)
    xs[4, 0, 2] = math.inf
    with pytest.raises(NonFiniteError, match=r"fit, epoch 1, batch after 0 samples: non-finite model output "
                                             r"\[T, B, \.\.\.\] \(.*\) at time step 4, index \(0, "):
        _fit(nn.Linear(4, 2), _batches(xs))
    nan_loss = lambda out, y: out.sum() * math.nan  # noqa: E731
    with pytest.raises(NonFiniteError, match=r"fit, epoch 1, batch after 0 samples: non-finite loss \[nan\]"):
        _fit(nn.Linear(4, 2), _batches(torch.rand(6, 5, 4)), loss_fn=nan_loss)
    with allow_nonfinite(), pytest.raises(NonFiniteError, match="non-finite loss"):  # a NaN loss always stops
        _fit(nn.Linear(4, 2), _batches(xs))
