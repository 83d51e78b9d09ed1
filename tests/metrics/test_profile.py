"""The profile context: hooks, sample counting, activations, membranes, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.layers import RecurrentSpiking, TimeDistributed
from spikeforge.metrics import (
    FP32_45NM,
    BitBudget,
    SequenceReLU,
    ann_counterpart,
    compare_ann_snn,
    measure_latency,
    profile,
    summarize,
)
from spikeforge.neurons import LI, LIF, Neuron


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def _mode_depth() -> int:
    return int(torch._C._len_torch_function_stack())


def _tiny_snn() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 6), LIF.from_decay(0.5, reset="zero"), nn.Linear(6, 3), LI())


class Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


def test_hooks_removed_after_context() -> None:
    net = _tiny_snn()
    with profile(net) as prof:
        assert prof.active and not _no_hooks(net) and _mode_depth() == 1
        net(torch.rand(3, 2, 4))
    assert not prof.active and _no_hooks(net) and _mode_depth() == 0


def test_hooks_removed_when_forward_raises() -> None:
    net = nn.Sequential(nn.Linear(4, 6), LIF(), Boom())
    with pytest.raises(RuntimeError, match="boom"):
        with profile(net):
            net(torch.rand(3, 2, 4))
    assert _no_hooks(net) and _mode_depth() == 0
    # a failed pass is not a sample; a later profile starts clean
    with profile(net[:2]) as prof:
        net[:2](torch.rand(3, 2, 4))
    assert prof.samples == 2


def test_samples_and_steps_from_time_major_input() -> None:
    net = _tiny_snn()
    with profile(net) as prof:
        net(torch.rand(5, 3, 4))
        net(torch.rand(5, 2, 4))
    assert (prof.samples, prof.steps, prof.passes) == (5, 5, 2)
    # dense ops of Linear(4, 6) and Linear(6, 3) per sample over T=5 steps
    assert prof.synops()["Dense"] == 5 * (4 * 6 + 6 * 3)


def test_unknown_batch_size_is_a_clear_error() -> None:
    lin = nn.Linear(3, 2)
    with profile(lin) as prof:
        lin(torch.rand(4, 3))
    with pytest.raises(ValueError, match="batch_size"):
        prof.synops()
    with pytest.raises(ValueError, match="no forward pass"):
        with profile(lin, batch_size=4) as empty:
            pass
        empty.synops()


def test_membrane_updates_activation_sparsity_and_neuron_ops_by_hand() -> None:
    lif = LIF.from_decay(0.5, reset="zero")
    # neuron 0 gets nothing (membrane never moves after step 0); neuron 1: v = 1.5 (spike, -> 0),
    # 0.2, 0.1 + 1.2 = 1.3 (spike, -> 0)
    xs = torch.tensor([[[0.0, 1.5]], [[0.0, 0.2]], [[0.0, 1.2]]])  # [T=3, B=1, 2]
    with profile(lif) as prof:
        zs = lif(xs)
    assert zs[:, 0, 1].tolist() == [1.0, 0.0, 1.0]
    assert prof.activation_sparsity() == pytest.approx(4 / 6)
    # step 0 counts both neurons; then only neuron 1 changes at each step
    assert prof.membrane_updates() == 2 + 1 + 1
    assert prof.neuron_ops() == {"Effective": 4 * 4, "Dense": 6 * 4}  # LIF: 4 ops per update


def test_readout_is_not_an_activation_but_has_membrane_updates() -> None:
    net = _tiny_snn()
    with profile(net) as prof:
        net(torch.rand(4, 2, 4))
    layers = prof.layers()
    assert layers["1"].is_activation and layers["1"].spiking
    assert not layers["3"].is_activation and layers["3"].membrane_updates > 0
    assert set(prof.layer_activation_sparsity()) == {"1"}


class FunctionalBlock(nn.Module):
    """Synapses and activations as function calls, not modules."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 0.0], [2.0, 3.0]]))

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        h = torch.relu(F.linear(xs, self.w))  # [T, B, 3]
        return h.sigmoid()


def test_functional_synapses_and_activations_are_counted() -> None:
    block = FunctionalBlock()
    xs = torch.tensor([[[1.0, -1.0]]])  # [T=1, B=1, 2]; h = relu(1, 0, -1) = (1, 0, 0)
    with profile(block, batch_size=1) as prof:
        block(xs)
    layers = prof.layers()
    assert set(layers) == {"linear", "relu", "sigmoid"}
    assert layers["linear"].eff_acs == 3 and layers["linear"].dense_ops == 6
    assert layers["relu"].activation_sparsity == pytest.approx(2 / 3)
    assert layers["sigmoid"].activation_sparsity == 0.0
    assert prof.activation_sparsity() == pytest.approx(2 / 6)


def test_neuron_internals_are_not_activations() -> None:
    class ClampedLIF(LIF):  # custom neuron using relu inside its own dynamics
        def forward(self, xs: torch.Tensor) -> torch.Tensor:
            return super().forward(torch.relu(xs))

    net = nn.Sequential(nn.Linear(3, 4), ClampedLIF())
    with profile(net) as prof:
        net(torch.rand(2, 2, 3))
    assert set(prof.layers()) == {"0", "1"}
    assert prof.neuron_ops()["Effective"] > 0  # inherits LIF's cost


def test_recurrent_spiking_layer_counts_both_synapse_sets() -> None:
    rnn = RecurrentSpiking(3, 4, neuron="lif", tau_mem=20e-3)
    xs = torch.rand(5, 2, 3)
    with profile(rnn) as prof:
        rnn(xs)
    layers = prof.layers()
    assert layers["input"].dense_ops == 5 * 3 * 4  # one call on [T, B, 3]
    assert layers["recurrent"].dense_ops == 5 * 4 * 4  # one call per step on [B, 4]
    assert layers["recurrent"].eff_macs == 0  # previous spikes are binary
    assert layers["RecurrentSpiking"].is_activation  # the root module, named by its class
    assert prof.membrane_updates() > 0


def test_unknown_neuron_cost_is_reported_not_guessed() -> None:
    class Odd(Neuron):  # type: ignore[type-arg]
        params_cls = LIF.params_cls
        state_cls = LIF.state_cls
        step_fn = LIF.step_fn

        def init_state(self, x: torch.Tensor):  # type: ignore[no-untyped-def]
            return self.state_cls(v=torch.zeros_like(x))

    net = nn.Sequential(nn.Linear(3, 4), Odd())
    with profile(net) as prof:
        net(torch.rand(2, 2, 3))
    assert prof.unpriced_neurons() == ["1"] and prof.neuron_ops()["Effective"] == 0
    assert "neuron ops unknown for: 1" in prof.report()
    with profile(net, neuron_ops={Odd: 5}) as prof:
        net(torch.rand(2, 2, 3))
    assert prof.neuron_ops()["Effective"] == 5 * prof.membrane_updates()


def test_report_json_and_plot(tmp_path: Path) -> None:
    net = nn.Sequential(TimeDistributed(nn.Conv2d(1, 2, 3, padding=1)), LIF(), TimeDistributed(nn.Flatten()),
                        nn.Linear(2 * 4 * 4, 3), LI())
    with profile(net) as prof:
        net(torch.rand(3, 2, 1, 4, 4) * 4)
    text = prof.report()
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer"))
    table = lines[header:header + 2 + len(prof.layers())]
    assert len({len(line.rstrip()) for line in table[:2]}) == 1  # header and rule aligned
    assert "0.module" in text and "Effective_ACs" in text and "45nm_fp32" in text
    data = json.loads(prof.to_json(tmp_path / "cost.json").read_text())
    assert data["totals"]["synops"] == prof.synops()
    assert [d["name"] for d in data["layers"]] == list(prof.layers())
    png = prof.plot_energy(tmp_path / "energy.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="one unit"):
        prof.plot_energy(tmp_path / "mixed.png", [FP32_45NM, BitBudget()])


def test_summarize_matches_profile() -> None:
    net = _tiny_snn()
    xs = torch.rand(4, 3, 4)
    out = summarize(net, xs)
    with profile(net) as prof:
        net(xs)
    syn = prof.synops()
    assert out["synops"] == syn["Effective_MACs"] + syn["Effective_ACs"]
    assert out["energy_45nm_fp32_pJ"] == pytest.approx(syn["Effective_MACs"] * 4.6 + syn["Effective_ACs"] * 0.9)
    assert set(out) >= {"eff_MACs", "eff_ACs", "dense_synops", "act_sparsity", "mem_updates", "energy_memory_aware_pJ"}
    assert all(isinstance(v, float) for v in out.values())


def test_ann_counterpart_and_comparison() -> None:
    net = _tiny_snn()
    ann = ann_counterpart(net)
    assert isinstance(ann[1], SequenceReLU) and isinstance(ann[3], nn.Identity)
    assert isinstance(net[1], LIF)  # original untouched
    torch.testing.assert_close(ann[0].weight, net[0].weight)
    xs = torch.rand(1, 2, 4).expand(6, 2, 4)  # direct encoding: every step identical
    cmp = compare_ann_snn(net, xs)
    assert (cmp.snn_steps, cmp.ann_steps) == (6, 1)
    # the ANN runs once: its dense ops are one step of the SNN's
    assert cmp.ann_synops["Dense"] == pytest.approx(cmp.snn_synops["Dense"] / 6)
    with pytest.raises(ValueError, match="spiking module"):
        ann_counterpart(nn.Sequential(RecurrentSpiking(3, 4)))


def test_ann_snn_energies_by_hand() -> None:
    """Linear(2, 2)–LIF–Linear(2, 1)–LI on a constant analogue input, T = 2, priced at 45 nm fp32
    (MAC 4.6 pJ, AC 0.9 pJ), every count worked out by hand."""
    net = nn.Sequential(nn.Linear(2, 2, bias=False), LIF.from_decay(0.5, reset="zero"),
                        nn.Linear(2, 1, bias=False), LI.from_decay(0.5))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
        net[2].weight.copy_(torch.tensor([[1.0, 1.0]]))
    xs = torch.tensor([[[2.0, 0.0]], [[2.0, 0.0]]])  # [T=2, B=1, 2]; current W x = (2, 1) at each step
    # SNN: layer 1 sees input 0 only, which reaches 2 outputs: 2 MACs per step -> 4.
    # LIF v' = v/2 + I: t=0 v = (2, 1) -> spikes (1, 0) (strict threshold), v -> (0, 1);
    # t=1 v = (2, 1.5) -> spikes (1, 1). Layer 2: 1 + 2 = 3 ACs.
    # ANN (ReLU, priced for 1 of the 2 identical steps): layer 1 2 MACs, layer 2 sees (2, 1): 2 MACs.
    cmp = compare_ann_snn(net, xs)
    assert cmp.snn_synops == {"Effective_MACs": 4, "Effective_ACs": 3, "Dense": 8 + 4}
    assert cmp.ann_synops == {"Effective_MACs": 4, "Effective_ACs": 0, "Dense": 4 + 2}
    assert cmp.snn["45nm_fp32"] == pytest.approx(4 * 4.6 + 3 * 0.9)  # 21.1 pJ
    assert cmp.ann["45nm_fp32"] == pytest.approx(4 * 4.6)  # 18.4 pJ
    assert cmp.ratio["45nm_fp32"] == pytest.approx(18.4 / 21.1)  # < 1: this SNN costs more


class _Clock:
    """A fake ``time.perf_counter`` that only advances while the model runs, by a set amount per call."""

    def __init__(self, durations: list[float]) -> None:
        self.now, self.durations = 100.0, list(durations)

    def __call__(self) -> float:
        return self.now


def test_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    import spikeforge.metrics.latency as latency_mod

    clock = _Clock([0.5, 0.2, 0.1, 0.4])  # one warm-up pass, then three timed ones
    net = _tiny_snn()
    net.register_forward_hook(lambda *_: setattr(clock, "now", clock.now + clock.durations.pop(0)))
    monkeypatch.setattr(latency_mod.time, "perf_counter", clock)
    lat = measure_latency(net, torch.rand(4, 3, 4), warmup=1, repeats=3)
    assert (lat.batch_size, lat.steps) == (3, 4)
    assert lat.seconds == pytest.approx((0.2, 0.1, 0.4))  # the warm-up pass is not timed
    assert lat.median_s == pytest.approx(0.2)
    assert lat.samples_per_s == pytest.approx(15.0)  # 3 samples in 0.2 s
    assert lat.seconds_per_step == pytest.approx(0.05)  # 0.2 s over 4 steps
    assert lat.std_s == pytest.approx(0.152753, abs=1e-6)  # sample stdev of (0.2, 0.1, 0.4)
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(net, torch.rand(4, 3, 4), repeats=0)


def test_report_does_not_import_profile() -> None:
    """One-way dependency: profile uses report; report knows a profile only by its protocol."""
    import ast

    import spikeforge.metrics.report as report_mod

    tree = ast.parse(Path(report_mod.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {m for m in imported if m and m.split(".")[-1] == "profile"}, imported
