"""Issue 16: HD-LIF (STEP's gated IF/LIF/PLIF/EIF mixture) inside every zoo spiking transformer.

HD-LIF's gate reads the ``T·C`` values of each position, so every neuron site must build it with the
``C`` of its input: conv maps ``[T, B, C, H, W]`` are gated per pixel over their ``C`` channels, the head
``[T, B, D]`` per sample, the attention neuron on ``[T, B, h, N, d]`` per token over all ``C = h·d``
channels (Spikformer's ``attn_lif`` runs after the heads are merged). The expected ``C`` of each site is
read here from an independent source: the input shapes of the same model built with LIF neurons, the
block configuration by hand, or a per-position loop over :func:`~spikeforge.neurons.hdlif.hdlif_run`.
"""

from __future__ import annotations

import json

import pytest
import torch

from spikeforge.config import TrainConfig
from spikeforge.metrics import profile
from spikeforge.models import MODELS, build_model, create_model
from spikeforge.neurons import HDLIF, Neuron
from spikeforge.neurons.hdlif import hdlif_run
from spikeforge.surrogate import Sigmoid

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [n for n in MODELS.names() if MODELS.meta(n).get("kind") == "zoo" and n.endswith("_tiny")]
E = 4  # experts: IF, LIF, PLIF, EIF


def _hdlifs(model: torch.nn.Module) -> dict[str, HDLIF]:
    """HD-LIF layers by site name (the neuron's own module name without FeaturesLast's ``.neuron``)."""
    return {name.removesuffix(".neuron"): m for name, m in model.named_modules() if isinstance(m, HDLIF)}


def _lif_site_channels(name: str, x: torch.Tensor) -> dict[str, int]:
    """Site name -> channel count, read from the inputs the LIF version of model ``name`` gives its neurons."""
    torch.manual_seed(0)
    model = create_model(name, neuron="lif", in_channels=1, T=2)
    seen: dict[str, int] = {}
    hooks = []
    for site, m in model.named_modules():
        if isinstance(m, Neuron):
            def hook(mod, args, site=site):
                xs = args[0]  # attention: [T, B, h, N, d] -> C = h·d; elsewhere [T, B, C, ...]
                seen[site] = xs.shape[2] * xs.shape[4] if site.endswith("attn_lif") else xs.shape[2]
            hooks.append(m.register_forward_pre_hook(hook))
    model(x)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("name", TINY)
def test_every_zoo_transformer_builds_hdlif_at_every_site_and_trains_every_gate(name):
    size = MODELS.meta(name)["defaults"]["img_size"]
    x = torch.rand(2, 1, size, size)
    expected = _lif_site_channels(name, x)
    torch.manual_seed(0)
    model = create_model(name, neuron="hdlif", in_channels=1, num_classes=4, T=2)
    sites = _hdlifs(model)
    assert {k: m.features for k, m in sites.items()} == expected  # every site, each with its own C
    assert all(m.t_steps == 2 and m.gate_weight.shape == (E, 2 * m.features) for m in sites.values())
    out = model(x)
    assert out.shape == (2, 2, 4) and torch.isfinite(out).all()
    torch.nn.functional.cross_entropy(out.mean(0), torch.tensor([0, 1])).backward()
    for site, m in sites.items():
        for p in (m.gate_weight, m.gate_bias):
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, site
        # PLIF's rate only gets a gradient where that expert's membrane is not exactly 0 (a spike resets it
        # and 0 is read as v_th): meta_spikeformer_tiny's attention inputs (scale 4) saturate it
        assert m.plif_w.grad is not None and torch.isfinite(m.plif_w.grad).all(), site


def test_gate_shapes_by_hand_from_the_block_config():
    """spikformer_tiny: D = 64, mlp_ratio 4, SEW (the MLP's first neuron follows fc1: 4D channels), T = 4;
    sdt_tiny: membrane shortcuts (the MLP's first neuron reads the block input: D channels), T = 3."""
    sf = create_model("spikformer_tiny", neuron="hdlif")
    assert sf.features[0].lifs[0].neuron.gate_weight.shape == (E, 4 * 64 // 8)  # SPS stage 1: D/8 = 8 channels
    assert sf.features[1].mlp.lif1.neuron.gate_weight.shape == (E, 4 * 256)
    assert sf.features[1].mlp.lif2.neuron.gate_weight.shape == (E, 4 * 64)
    assert sf.features[1].attn.attn_lif.neuron.gate_weight.shape == (E, 4 * 64)  # h·d = 4 · 16
    sdt = create_model("sdt_tiny", neuron="hdlif", T=3)
    assert sdt.features[1].mlp.lif1.neuron.gate_weight.shape == (E, 3 * 64)
    assert sdt.features[1].mlp.lif2.neuron.gate_weight.shape == (E, 3 * 256)
    assert sdt.head_lif.neuron.gate_weight.shape == (E, 3 * 64)


@pytest.mark.parametrize(("name", "channels"), [
    # SPS stages D/8, D/4, D/2, D, RPE D; attention q, k, v, attn, io: 5 D; MLP 4D and D; no head neuron
    ("spikformer_tiny", [8, 16, 32, 64, 64] + [64] * 5 + [256, 64]),
    # MS-SPS: 3 stage neurons + the RPE neuron on D; attention 5 D; MLP D and 4D; head neuron on D
    ("sdt_tiny", [8, 16, 32, 64] + [64] * 5 + [64, 256] + [64]),
])
def test_parameter_count_is_the_lif_count_plus_the_gates(name, channels):
    T = 4  # the tiny configs' T
    gates = sum(E * T * c + E + 1 for c in channels)  # gate weight [E, T·C], bias [E], PLIF's w
    n_lif = sum(p.numel() for p in create_model(name, neuron="lif").parameters())
    n_hd = sum(p.numel() for p in create_model(name, neuron="hdlif").parameters())
    assert n_hd == n_lif + gates
    with torch.device("meta"):  # no lazy parameters: counting on the meta device works
        on_meta = create_model(name, neuron="hdlif")
    assert next(on_meta.parameters()).device.type == "meta"
    assert sum(p.numel() for p in on_meta.parameters()) == n_hd


@pytest.mark.parametrize("training", [True, False])
def test_conv_and_attention_sites_gate_each_position_over_its_channels(training):
    """A conv site equals HD-LIF run pixel by pixel on ``xs[:, b, :, i, j]`` ([T, C]); the attention
    site equals it token by token on ``xs[:, b, :, n, :]`` ([T, h, d] -> [T, h·d])."""
    torch.manual_seed(0)
    model = create_model("spikformer_tiny", neuron="hdlif", T=3).double().train(training)
    g = torch.Generator().manual_seed(3)
    top_k = None if training else 2
    heaviside = Sigmoid(alpha=4.0)  # the forward of a surrogate spike is the step itself

    conv = model.features[0].lifs[1]  # 16 channels
    hd = conv.neuron
    xs = 2 * torch.rand(3, 2, 16, 3, 4, generator=g, dtype=torch.float64)  # [T, B, C, H, W]
    p = hd.params(torch.float64)
    ref = torch.zeros_like(xs)
    for b in range(2):
        for i in range(3):
            for j in range(4):
                ref[:, b, :, i, j] = hdlif_run(xs[:, b:b + 1, :, i, j], p, top_k=top_k, surrogate=heaviside)[:, 0]
    torch.testing.assert_close(conv(xs), ref, rtol=0, atol=0)

    attn = model.features[1].attn.attn_lif  # 4 heads of 16
    hd = attn.neuron
    xs = 2 * torch.rand(3, 2, 4, 5, 16, generator=g, dtype=torch.float64)  # [T, B, h, N, d]
    p = hd.params(torch.float64)
    ref = torch.zeros_like(xs)
    for b in range(2):
        for n in range(5):
            token = xs[:, b, :, n, :].reshape(3, 1, 64)  # [T, h, d] -> [T, 1, h·d], channel c = head·d + lane
            ref[:, b, :, n, :] = hdlif_run(token, p, top_k=top_k, surrogate=heaviside).reshape(3, 4, 16)
    torch.testing.assert_close(attn(xs), ref, rtol=0, atol=0)


def _hdlif_ops(steps: int, positions: int, channels: int) -> int:
    """Per sample: every element at every step (IF 4, LIF 6, PLIF 6, EIF 13, zero reading 8, mix and
    threshold 8 = 45 ops), plus per position the gate's E·T·C multiplies and adds and its softmax
    (E exp, E − 1 adds, E divides)."""
    per_element = 4 + 6 + 6 + 13 + 8 + 8
    return steps * positions * channels * per_element + positions * (2 * E * steps * channels + 3 * E - 1)


def test_profiler_counts_hdlif_ops_per_site_of_a_transformer():
    """sdt_tiny at 16 px, T = 2: SPS stage 1 is 16 x 16 pixels of 8 channels, the blocks 4 x 4 tokens;
    SDSA's attention neuron sees one K⊙V row of h·d = 64 channels per sample. The gate is not a synapse:
    the dense synaptic operations are those of the LIF model."""
    dense = {}
    for neuron in ("lif", "hdlif"):
        torch.manual_seed(0)
        model = create_model("sdt_tiny", neuron=neuron, in_channels=1, T=2).eval()
        with profile(model) as prof:
            model(torch.rand(1, 1, 16, 16))
        layers = prof.layers()
        dense[neuron] = sum(c.dense_acs + c.dense_macs for c in layers.values())
    hand = {"features.0.lifs.0.neuron": _hdlif_ops(2, 16 * 16, 8),
            "features.1.mlp.lif2.neuron": _hdlif_ops(2, 16, 256),
            "features.1.attn.attn_lif.neuron": _hdlif_ops(2, 1, 64),
            "head_lif.neuron": _hdlif_ops(2, 1, 64)}
    assert hand["features.1.attn.attn_lif.neuron"] == 2 * 64 * 45 + (2 * 4 * 2 * 64 + 11) == 6795
    for site, ops in hand.items():
        assert layers[site].neuron_ops == ops, site
    assert len([c for c in layers.values() if c.kind == "HDLIF"]) == 12
    assert dense["hdlif"] == dense["lif"]


def test_train_cli_runs_a_zoo_transformer_with_hdlif(tmp_path, monkeypatch):
    """``spikeforge train --set model=sdt_tiny --set neuron=hdlif`` through TrainConfig, one epoch on a
    small slice of digits16 (the full split takes minutes)."""
    from torch.utils.data import Subset

    from spikeforge import experiment
    from spikeforge.cli.__main__ import main

    full = experiment.load_splits
    monkeypatch.setattr(experiment, "load_splits",
                        lambda cfg: tuple(Subset(s, range(n)) for s, n in zip(full(cfg), (48, 24), strict=True)))
    sets = {"data": "digits16", "model": "sdt_tiny", "neuron": "hdlif", "steps": "2", "epochs": "1",
            "batch_size": "16", "progress": "false"}
    assert main(["train", "--out", str(tmp_path), "--no-plots",
                 *[a for k, v in sets.items() for a in ("--set", f"{k}={v}")]]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["config"]["neuron"] == "hdlif" and report["config"]["model"] == "sdt_tiny"
    assert 0.0 <= report["test_accuracy"] <= 1.0
    model = build_model(TrainConfig(data="digits16", model="sdt_tiny", neuron="hdlif", steps=2))
    assert {m.t_steps for m in _hdlifs(model).values()} == {2}
