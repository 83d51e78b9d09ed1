"""DelRec: carried state (neuron + buffer), per-synapse recurrent delays, and a contract over the
registered neurons. The reference is an explicit spike history (no buffer): the recurrent input at
step t is the sum over earlier steps t' of W[p, q] · m_{t'}[p, q, t - t'] · z_{t'}[q], with the mask
m_{t'} that was in force at step t'."""

from __future__ import annotations

import pytest
import torch

from spikeforge.layers import DelayedRecurrentSpiking
from spikeforge.layers import DelRecState
from spikeforge.neurons import NEURONS


def _full_mask(layer: DelayedRecurrentSpiking) -> torch.Tensor:
    """The mask as ``[post, pre, L]`` for both kinds (axonal: the same for every post)."""
    m = layer.mask().detach()
    return m if layer.synaptic else m.unsqueeze(0).expand(layer.out_features, *m.shape)


def _history(layer: DelayedRecurrentSpiking, xs: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
    """Explicit-history simulation from rest; ``masks[t]`` is the ``[post, pre, L]`` mask used at step t."""
    w = layer.recurrent.weight.detach()  # [post, pre]
    i_in = layer.input(xs).detach()
    state = layer.neuron.init_state(i_in[0])
    zs: list[torch.Tensor] = []
    for t in range(xs.shape[0]):
        rec = torch.zeros_like(i_in[t])  # [B, post]
        for tp in range(t):
            m = masks[tp]
            if t - tp < m.shape[-1]:
                rec += zs[tp] @ (w * m[:, :, t - tp]).t()  # [B, pre] @ [pre, post]
        z, state = layer.neuron.step(i_in[t] + rec, state)
        zs.append(z)
    return torch.stack(zs)


def _layer(synaptic: bool, neuron: str = "lif", **kw: object) -> DelayedRecurrentSpiking:
    torch.manual_seed(8)
    layer = DelayedRecurrentSpiking(3, 5, max_delay=4, synaptic=synaptic, neuron=neuron, **kw).double()
    with torch.no_grad():
        layer.recurrent.weight.mul_(3.0)
    return layer


@pytest.mark.parametrize("train", [True, False])
def test_synaptic_delays_match_explicit_history(train: bool, gen: torch.Generator) -> None:
    layer = _layer(synaptic=True, sigma=0.0).train(train)
    assert layer.delays.shape == (5, 5)
    with torch.no_grad():
        layer.delays.copy_(torch.randint(0, 5, (5, 5), generator=gen).double() + (0.0 if train else 0.3))
    xs = torch.rand(30, 2, 3, generator=gen, dtype=torch.float64) * 30
    with torch.no_grad():
        got = layer(xs)
        # independent of the mask code: integer delays, one spike per synapse arriving 1 + d later
        d, w, i_in = torch.round(layer.delays).long(), layer.recurrent.weight, layer.input(xs)
        state, zs = layer.neuron.init_state(i_in[0]), []
        for t in range(30):
            rec = torch.zeros_like(i_in[0])
            for p in range(5):
                for q in range(5):
                    if t - 1 - d[p, q] >= 0:
                        rec[:, p] += w[p, q] * zs[t - 1 - int(d[p, q])][:, q]
            z, state = layer.neuron.step(i_in[t] + rec, state)
            zs.append(z)
    assert 0 < got.mean() < 1
    torch.testing.assert_close(got, torch.stack(zs), rtol=0, atol=1e-12)


def test_synaptic_with_equal_columns_is_axonal(gen: torch.Generator) -> None:
    ax, syn = _layer(synaptic=False, sigma=1.3), _layer(synaptic=True, sigma=1.3)
    with torch.no_grad():
        ax.delays.copy_(torch.rand(5, generator=gen, dtype=torch.float64) * 4)
        syn.delays.copy_(ax.delays.expand(5, 5))  # d[p, q] = d[q]
        syn.recurrent.weight.copy_(ax.recurrent.weight)
        syn.input.load_state_dict(ax.input.state_dict())
    xs = torch.rand(25, 2, 3, generator=gen, dtype=torch.float64) * 30
    with torch.no_grad():
        assert torch.equal(syn(xs), ax(xs))


@pytest.mark.parametrize("synaptic", [False, True])
def test_state_carries_across_sigma_and_mode_changes(synaptic: bool, gen: torch.Generator) -> None:
    """A sequence in chunks with σ changing between them (wider and narrower masks, then eval):
    every contribution already scheduled is delivered, as in the explicit history."""
    layer = _layer(synaptic, sigma=2.0).train()
    xs = torch.rand(36, 2, 3, generator=gen, dtype=torch.float64) * 30
    plan = [(0, 10, 2.0, True), (10, 20, 0.0, True), (20, 28, 3.5, True), (28, 36, 0.0, False)]
    masks: list[torch.Tensor] = []
    outs, state = [], None
    with torch.no_grad():
        for a, b, sigma, train in plan:
            layer.set_sigma(sigma)
            layer.train(train)
            masks += [_full_mask(layer)] * (b - a)
            ys, state = layer.run(xs[a:b], state)
            outs.append(ys)
        got = torch.cat(outs)
        assert 0 < got.mean() < 1
        torch.testing.assert_close(got, _history(layer, xs, masks), rtol=0, atol=1e-12)


_NEURONS = sorted(NEURONS.names())


@pytest.mark.parametrize("name", _NEURONS)
def test_contract_any_registered_neuron(name: str, gen: torch.Generator) -> None:
    """For every registered neuron: chunked runs and single steps equal one run (train mode, fractional
    delays, σ > 0, so the spread mask is used), the explicit history agrees, and gradients reach the
    input weights and the delays."""
    layer = _layer(synaptic=(name in _NEURONS[::2]), neuron=name, sigma=1.5).train()
    xs = torch.rand(16, 2, 3, generator=gen, dtype=torch.float64) * (300 if name == "hh" else 30)  # HH: µA/cm²
    with torch.no_grad():
        whole = layer(xs)
        assert whole.abs().sum() > 0  # spikes (or a membrane) to carry through the delays
        a, state = layer.run(xs[:7])
        b, state = layer.run(xs[7:8], state)
        c, _ = layer.run(xs[8:], state)
        steps, s = [], None
        for x in xs:
            z, s = layer.step(x, s)
            steps.append(z)
        ref = _history(layer, xs, [_full_mask(layer)] * xs.shape[0])
    assert isinstance(state, DelRecState)
    torch.testing.assert_close(torch.cat([a, b, c]), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.stack(steps), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(whole, ref, rtol=1e-9, atol=1e-9)
    out = layer(xs)
    out.sum().backward()
    assert layer.input.weight.grad is not None and layer.input.weight.grad.abs().sum() > 0
    g = layer.delays.grad
    assert g is not None and bool(torch.isfinite(g).all()) and g.abs().sum() > 0


def test_bad_state_is_named() -> None:
    layer = DelayedRecurrentSpiking(3, 4, max_delay=2)
    xs = torch.rand(5, 2, 3)
    _, state = layer.run(xs)
    with pytest.raises(ValueError, match=r"state.buffer must have shape \[L-1, 2, 4\]"):
        layer.run(xs, DelRecState(neuron=state.neuron, buffer=torch.zeros(4, 3, 4)))
    with pytest.raises(TypeError, match="DelRecState"):
        layer.run(xs, (state.neuron, state.buffer))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="neuron kwargs"):
        DelayedRecurrentSpiking(3, 4, max_delay=2, neuron=layer.neuron, tau_mem=1e-2)
