"""Hook-based recorders: rates against hand counts, hooks removed (also on exceptions), traces."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.layers import RecurrentSpiking, SpikingSequential
from spikeforge.monitors import record_layer, record_rates, spiking_layers, trace
from spikeforge.neurons import IF, LI, LIF


class _Boom(RuntimeError):
    pass


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), LIF(tau_mem=5e-3), nn.Linear(8, 6), IF(), nn.Linear(6, 3), LI())


def _n_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_rates_equal_hand_counts_over_all_calls() -> None:
    net = _net()
    xs1, xs2 = torch.rand(10, 2, 4) * 20, torch.rand(5, 3, 4) * 20
    with record_rates(net) as rec:
        net(xs1)
        net(xs2)
    # independent reference: run the layers by hand
    def spikes(xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z1 = net[1](net[0](xs))
        return z1, net[3](net[2](z1))
    (a1, b1), (a2, b2) = spikes(xs1), spikes(xs2)
    rates = rec.rates()
    assert set(rates) == {"1", "3"}  # LI readout (spiking = False) is not recorded
    assert rates["1"] == pytest.approx((a1.sum() + a2.sum()).item() / (10 * 2 * 8 + 5 * 3 * 8))
    assert rates["3"] == pytest.approx((b1.sum() + b2.sum()).item() / (10 * 2 * 6 + 5 * 3 * 6))
    assert 0 < rates["1"] < 1
    assert rec.calls == {"1": 2, "3": 2}
    assert _n_hooks(net) == 0


def test_hooks_removed_after_exception() -> None:
    net = _net()
    with pytest.raises(_Boom):
        with record_rates(net):
            assert _n_hooks(net) == 2
            raise _Boom
    assert _n_hooks(net) == 0
    with pytest.raises(_Boom):
        with record_layer(net, "1", states=True):
            assert _n_hooks(net) == 1
            net(torch.rand(3, 1, 4))
            raise _Boom
    assert _n_hooks(net) == 0
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):  # raised inside the model itself
        with record_rates(net):
            net(torch.rand(4))  # not [T, B, ...]
    assert _n_hooks(net) == 0


def test_recurrent_layer_is_recorded_once_not_its_inner_neuron() -> None:
    net = SpikingSequential(nn.Linear(3, 5), RecurrentSpiking(5, 4), nn.Linear(4, 2), LIF())
    assert list(spiking_layers(net)) == ["1", "3"]
    with record_rates(net) as rec:
        ys = net(torch.rand(6, 2, 3) * 50)
    assert rec.elements == {"1": 6 * 2 * 4, "3": 6 * 2 * 2}
    assert rec.rates()["3"] == pytest.approx(ys.mean().item())


def test_trace_returns_post_reset_membrane_hand_computed() -> None:
    lif = LIF.from_decay(0.5)  # v' = 0.5 v + x, threshold 1, subtract reset
    xs = torch.tensor([0.6, 0.6, 0.6, 0.0]).view(4, 1, 1)
    zs, states = trace(lif, xs)
    # v: 0.6 -> 0.9 -> 1.05 (spike, -1) = 0.05 -> 0.025
    assert zs.flatten().tolist() == [0.0, 0.0, 1.0, 0.0]
    assert states.v.flatten().tolist() == pytest.approx([0.6, 0.9, 0.05, 0.025], abs=1e-6)
    torch.testing.assert_close(zs, lif(xs))


def test_record_layer_outputs_and_membranes() -> None:
    net = _net()
    xs = torch.rand(7, 2, 4) * 20
    with record_layer(net, "1", states=True) as rec:
        out = net(xs)
        net(xs[:, :1])
    assert len(rec.outputs) == 2 and rec.spikes.shape == (7, 3, 8)
    zs, states = trace(net[1], net[0](xs))
    torch.testing.assert_close(rec.outputs[0], zs.detach())
    torch.testing.assert_close(rec.membranes[:, :2], states.v.detach())
    assert out.requires_grad  # recording does not detach the model's own graph


def test_record_layer_bad_arguments() -> None:
    net = _net()
    with pytest.raises(ValueError, match="model has no submodule 'nope'"):
        with record_layer(net, "nope"):
            pass
    with pytest.raises(ValueError, match="states=True needs a Neuron layer, '0' is Linear"):
        with record_layer(net, "0", states=True):
            pass
    with record_layer(net, "1") as rec:
        pass
    with pytest.raises(ValueError, match="was not called while recording"):
        _ = rec.spikes
    with pytest.raises(TypeError, match="record_rates expects an nn.Module"):
        with record_rates("net"):  # type: ignore[arg-type]
            pass
