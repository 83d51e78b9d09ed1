"""Threshold balancing: reference checks 3-6 (rate bound, reset, max-norm, BN folding) and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.convert import CONVERTERS, QCFS, ConversionError, PrimeMembrane, convert, fold_bn, percentile
from spikeforge.layers import TimeDistributed
from spikeforge.neurons import IF


@pytest.mark.parametrize("T", [10, 100, 1000])
def test_if_rate_is_within_one_over_T_of_the_input(T: int, gen: torch.Generator) -> None:
    # reference check 3 (✓): u0 = 0, z in [0, θ]: |θ N_T / T - z| < θ/T; the rate is clip(z/θ, 0, 1)
    # (random z: grid points such as z = θ·k/T are float ties, the reference's pitfall)
    theta = 1.3
    z = -0.5 + (1.5 * theta + 0.5) * torch.rand(4000, generator=gen, dtype=torch.float64)
    counts = IF(v_th=theta, dtype=torch.float64)(z.expand(T, 1, -1)).sum(0)[0]  # [T, 1, n] -> [n]
    err = (theta * counts / T - theta * (z / theta).clamp(0, 1)).abs()
    assert err.max().item() < theta / T
    assert err.max().item() > 0.5 * theta / T  # the bound is not vacuous


def test_reset_by_subtraction_keeps_the_overshoot() -> None:
    # reference check 4 (✓): θ = 1, z = 0.65, T = 10: soft reset 6 spikes, reset to zero 5
    xs = torch.full((10, 1, 1), 0.65, dtype=torch.float64)
    assert IF(reset="subtract", dtype=torch.float64)(xs).sum().item() == 6
    assert IF(reset="zero", dtype=torch.float64)(xs).sum().item() == 5


def test_percentile_matches_numpy(gen: torch.Generator) -> None:
    rows = torch.randn(3, 1001, generator=gen, dtype=torch.float64)
    for p in (0.0, 50.0, 99.9, 100.0):
        np.testing.assert_allclose(percentile(rows, p).numpy(), np.percentile(rows.numpy(), p, axis=1), rtol=1e-12)


def _ann_mode(snn: nn.Sequential) -> nn.Sequential:
    """The converted network with each IF replaced by ReLU: the normalised ANN."""
    layers = []
    for m in snn:
        if isinstance(m, PrimeMembrane):
            continue
        layers.append(nn.ReLU() if isinstance(m, IF) else m.module if isinstance(m, TimeDistributed) else m)
    return nn.Sequential(*layers)


def _conv_net() -> nn.Sequential:
    net = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(5 * 4 * 4, 12), nn.ReLU(), nn.Dropout(0.5), nn.Linear(12, 4))
    with torch.no_grad():
        bn = net[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.mark.parametrize("channelwise", [False, True])
@pytest.mark.parametrize("method", ["max", "robust"])
def test_normalised_activations_peak_at_one_and_argmax_is_kept(method: str, channelwise: bool,
                                                                gen: torch.Generator) -> None:
    # reference check 5: after data-based normalisation every layer's max activation on the
    # calibration set is 1 (±1e-6) and the ANN output argmax is unchanged (positive homogeneity);
    # for the robust norm the 99.9th percentile is 1 (checked with numpy.percentile)
    torch.set_default_dtype(torch.float64)
    try:
        ann = _conv_net()
        x = torch.rand(64, 2, 8, 8, generator=gen)
        norm = _ann_mode(convert(ann, x, method=method, channelwise=channelwise))
        h = x
        n_act = 0
        for m in norm:
            h = m(h)
            if isinstance(m, nn.ReLU):
                n_act += 1
                a = (h.transpose(0, 1).reshape(h.shape[1], -1) if channelwise else h.reshape(1, -1)).detach().numpy()
                stat = a.max(axis=1) if method == "max" else np.percentile(a, 99.9, axis=1)
                live = stat > 0
                assert live.any()
                np.testing.assert_allclose(stat[live], 1.0, atol=1e-6)
        assert n_act == 3
        assert torch.equal(norm(x).argmax(-1), ann(x).argmax(-1))
        # the logits themselves are unchanged (the last layer is not normalised)
        assert (norm(x) - ann(x)).abs().max().item() < 1e-9
    finally:
        torch.set_default_dtype(torch.float32)


def test_convert_leaves_the_ann_untouched(gen: torch.Generator) -> None:
    ann = _conv_net()
    before = {k: v.clone() for k, v in ann.state_dict().items()}
    convert(ann, torch.rand(8, 2, 8, 8, generator=gen), channelwise=True)
    assert all(torch.equal(before[k], v) for k, v in ann.state_dict().items())


@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_bn_folding_matches_conv_then_bn(kind: str, gen: torch.Generator) -> None:
    # reference check 6: conv + BN (eval) vs folded conv, max abs diff < 1e-5
    layer: nn.Module = nn.Conv2d(3, 8, 3) if kind == "conv" else nn.Linear(10, 8)
    bn: nn.Module = nn.BatchNorm2d(8) if kind == "conv" else nn.BatchNorm1d(8)
    with torch.no_grad():
        bn.running_mean.normal_(0, 1, generator=gen)
        bn.running_var.uniform_(0.1, 3.0, generator=gen)
        bn.weight.normal_(1, 0.5, generator=gen)
        bn.bias.normal_(0, 0.5, generator=gen)
    bn.eval()
    x = torch.randn(16, 3, 9, 9, generator=gen) if kind == "conv" else torch.randn(16, 10, generator=gen)
    diff = (fold_bn(layer, bn)(x) - bn(layer(x))).abs().max().item()
    assert diff < 1e-5
    # a layer without bias gets one
    nobias: nn.Module = nn.Conv2d(3, 8, 3, bias=False) if kind == "conv" else nn.Linear(10, 8, bias=False)
    assert (fold_bn(nobias, bn)(x) - bn(nobias(x))).abs().max().item() < 1e-5


@pytest.mark.parametrize("layers, name, words", [
    ([nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 2)], "'2'", "AvgPool2d"),
    ([nn.Linear(4, 8), nn.Softmax(-1), nn.Linear(8, 2)], "'1'", "Softmax"),
    ([nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 2)], "'1'", "Sigmoid"),
    ([nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 2)], "'2'", "BatchNorm1d"),
    ([nn.Linear(4, 8), nn.ReLU(), nn.ReLU(), nn.Linear(8, 2)], "'2'", "no Linear/Conv"),
    ([nn.ReLU(), nn.Linear(4, 2)], "'0'", "no Linear/Conv"),
])
def test_unsupported_layers_raise_naming_the_layer(layers: list, name: str, words: str) -> None:
    ann = nn.Sequential(*layers).eval()
    with pytest.raises(ConversionError, match=words) as e:
        convert(ann, torch.rand(4, 1, 8, 8) if isinstance(layers[0], nn.Conv2d) else torch.rand(4, 4))
    assert name in str(e.value)


def test_nested_names_and_other_bad_input() -> None:
    ann = nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.Tanh()), nn.Linear(8, 2))
    with pytest.raises(ConversionError, match=r"'0\.1' \(Tanh\)"):
        convert(ann, torch.rand(4, 4))
    with pytest.raises(ConversionError, match="nn.Sequential"):
        convert(nn.Linear(4, 2), torch.rand(4, 4))
    relu_net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(ValueError, match="calibration_data"):
        convert(relu_net)
    with pytest.raises(ConversionError, match=r"'1' is a ReLU"):
        convert(relu_net, torch.rand(4, 4), method="qcfs")
    with pytest.raises(ValueError, match="max"):  # unknown method lists the valid ones
        convert(relu_net, torch.rand(4, 4), method="minmax")
    assert {"max", "robust", "qcfs"} <= set(CONVERTERS.names())
    q = nn.Sequential(nn.Linear(4, 8), QCFS(levels=4, lam=1.0), nn.Linear(8, 2))
    with torch.no_grad():
        q[1].lam.fill_(0.0)
    with pytest.raises(ConversionError, match="'1'"):
        convert(q, method="qcfs")


def test_spikeforge_list_shows_the_conversion_methods(capsys: pytest.CaptureFixture[str]) -> None:
    from spikeforge.cli.__main__ import main

    assert main(["list", "converters"]) == 0
    assert capsys.readouterr().out.strip() == "converters: max, qcfs, robust"
