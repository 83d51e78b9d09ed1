"""SynOps of burst and signed spikes (reference §2.3 pitfall): a burst of ``k`` spikes is ``k``
events, i.e. ``k × fan-out`` ACs; a ``−1`` spike is one AC per synapse. Checked against a hand count
(python loops over the recorded spikes and the weights' non-zero pattern) on a 2-layer net."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.metrics.counts import linear_ops
from spikeforge.neurons import BurstIF, SignedIF

T, B, N_IN, N_HID, N_OUT = 6, 2, 5, 4, 3


def _net(neuron: nn.Module, gen: torch.Generator) -> nn.Sequential:
    fc1, fc2 = nn.Linear(N_IN, N_HID), nn.Linear(N_HID, N_OUT)
    with torch.no_grad():
        fc1.weight.copy_(torch.rand(N_HID, N_IN, generator=gen) * 2)  # positive: drive follows the input's sign
        fc1.bias.copy_(torch.rand(N_HID, generator=gen))
        fc2.weight.copy_(torch.randn(N_OUT, N_HID, generator=gen))
        fc2.weight[0, 1] = 0.0  # zero synapses: fan-outs 3, 2, 3, 2
        fc2.weight[2, 3] = 0.0
    return nn.Sequential(fc1, neuron, fc2)


def _hand_acs(spikes: torch.Tensor, weight: torch.Tensor) -> int:
    """Σ over steps, samples, presynaptic j of |n_j| × (number of non-zero W[:, j])."""
    total = 0
    for t in range(spikes.shape[0]):
        for b in range(spikes.shape[1]):
            for j in range(spikes.shape[2]):
                n = int(round(abs(float(spikes[t, b, j]))))
                fan_out = sum(1 for i in range(weight.shape[0]) if float(weight[i, j]) != 0.0)
                total += n * fan_out
    return total


def _profile(net: nn.Sequential, xs: torch.Tensor) -> tuple[dict, torch.Tensor]:
    with sf.metrics.profile(net) as prof:
        net(xs)
    spikes = net[1](net[0](xs)).detach()  # [T, B, N_HID]: the hidden layer's output, recomputed
    return prof.layers(), spikes


def test_burst_counts_multiplicity_on_a_two_layer_net(gen) -> None:
    net = _net(BurstIF(max_burst=4), gen)
    xs = torch.rand(T, B, N_IN, generator=gen) * 3  # [T, B, N_IN], analog input
    layers, spikes = _profile(net, xs)
    assert spikes.max() >= 2, "the test needs bursts"
    hand = _hand_acs(spikes, net[2].weight.detach())
    l2 = layers["2"]
    assert l2.eff_acs * B == hand  # per sample -> total
    assert l2.eff_macs == 0
    binarised = linear_ops(spikes, net[2].weight)[0]  # the old rule: one event per non-zero entry
    assert hand > binarised
    assert layers["0"].eff_macs > 0 and layers["0"].eff_acs == 0  # analog input: MACs
    total = prof_synops(net, xs)
    assert total["Effective_ACs"] * B == hand


def prof_synops(net: nn.Module, xs: torch.Tensor) -> dict:
    with sf.metrics.profile(net) as prof:
        net(xs)
    return prof.synops()


def test_signed_minus_one_spike_is_one_ac(gen) -> None:
    net = _net(SignedIF(), gen)
    xs = torch.zeros(T, B, N_IN)
    xs[:3] = 2.0
    xs[3:] = -2.0  # positive drive, then negative: negative spikes take earlier ones back
    layers, spikes = _profile(net, xs)
    assert (spikes < 0).any() and (spikes > 0).any()
    assert layers["2"].eff_acs * B == _hand_acs(spikes, net[2].weight.detach())


def test_analog_integer_input_is_not_read_as_counts(gen) -> None:
    """Integers that did not come out of a spiking module (raw pixel values) stay a MAC input."""
    net = nn.Sequential(nn.Linear(N_IN, N_HID), sf.IF())
    xs = torch.randint(0, 5, (T, B, N_IN), generator=gen).float()  # [T, B, N_IN] of 0..4
    with sf.metrics.profile(net) as prof:
        net(xs)
    layer = prof.layers()["0"]
    assert layer.eff_acs == 0
    assert layer.eff_macs * B == linear_ops(xs, net[0].weight)[0]


@pytest.mark.parametrize("counts", [False, True])
def test_conv_counts_multiplicity(counts, gen) -> None:
    from spikeforge.metrics.counts import conv_ops

    x = torch.randint(0, 4, (1, 2, 5, 5), generator=gen).float()
    w = torch.randn(3, 2, 3, 3, generator=gen)
    eff = conv_ops(x, w, padding=1, multiplicity=counts)[0]
    hand = 0
    for c in range(2):
        for i in range(5):
            for j in range(5):
                e = int(x[0, c, i, j]) if counts else int(x[0, c, i, j] != 0)
                # output positions this input reaches (padding 1, stride 1) times non-zero weights
                for o in range(3):
                    for di in range(3):
                        for dj in range(3):
                            oi, oj = i - di + 1, j - dj + 1
                            if 0 <= oi < 5 and 0 <= oj < 5 and w[o, c, di, dj] != 0:
                                hand += e
    assert eff == hand
