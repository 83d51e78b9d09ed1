"""Task ``tclif`` of ``tools/research_neurons.py``: the two neuron arms and the feed-forward net,
each checked against a plain-Python float64 loop of the TC-LIF paper's equations (authors' code,
ZhangShimin1/TC-LIF ``MNIST/spiking_neuron/{TCLIF,neuron}.py``, read for this test). The training runs
stay in the tool."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

_spec = importlib.util.spec_from_file_location(
    "research_neurons_tool_tclif", Path(__file__).resolve().parents[2] / "tools" / "research_neurons.py")
assert _spec is not None and _spec.loader is not None
rn = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rn)


def _paper_lif(xs: list[float], th: float) -> list[float]:
    v, out = 0.0, []
    for x in xs:
        v = 0.8 * v + x
        s = float(v > th)
        v -= th * s
        out.append(s)
    return out


def _paper_tclif(xs: list[float], th: float, gamma: float) -> list[float]:
    ud = us = 0.0
    out = []
    for x in xs:
        ud = ud - 0.5 * us + x  # sigmoid(beta1 = 0) = 0.5
        us = us + 0.5 * ud  # sigmoid(beta2 = 0) = 0.5
        s = float(us > th)
        ud, us = ud - gamma * s, us - th * s
        out.append(s)
    return out


@pytest.mark.parametrize("name", ["LIF (β = 0.8)", "TC-LIF"])
def test_tclif_arms_follow_the_papers_equations_in_float64(name: str) -> None:
    th, gamma = 1.5, 0.7
    neuron = rn.tclif_arms(th, gamma, 1.0)[name]().to(torch.float64)
    xs = torch.rand(40, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 1.6
    with torch.no_grad():
        zs = neuron(xs.view(-1, 1, 1)).flatten().tolist()  # [T] -> [T, B=1, N=1]
    ref = _paper_lif(xs.tolist(), th) if name.startswith("LIF") else _paper_tclif(xs.tolist(), th, gamma)
    assert 3 < sum(ref) < 37  # the trajectory crosses the threshold, not always nor never
    assert zs == ref


def test_tclif_arms_use_the_triangle_surrogate_of_the_given_width() -> None:
    # one step from rest: the spike's gradient w.r.t. the input is the triangle max(0, 1 - |x - th|/w)/w
    for name, make in rn.tclif_arms(1.0, 0.5, 0.5).items():
        neuron = make().to(torch.float64)
        x = torch.tensor([[[2.6]]], dtype=torch.float64, requires_grad=True)  # TC-LIF: u^s = x / 2 = 1.3
        neuron(x).sum().backward()
        u = 2.6 if name.startswith("LIF") else 1.3
        dudx = 1.0 if name.startswith("LIF") else 0.5
        assert x.grad is not None
        assert x.grad.item() == pytest.approx(max(0.0, 1 - abs(u - 1.0) / 0.5) / 0.5 * dudx, abs=1e-12)


def test_deep_snn_layout_and_parameter_count_by_hand() -> None:
    arms = rn.tclif_arms(1.5, 0.7, 1.0)
    sizes = {}
    for name, make in arms.items():
        m = rn.DeepSNN(1, [4, 6], 3, make)
        out = m(torch.rand(7, 5, 1))
        assert out.shape == (7, 5, 3) and [z.shape for z in m.spikes(torch.rand(7, 5, 1))] == [(7, 5, 4), (7, 5, 6)]
        sizes[name] = rn.n_params(m)
    linear = (1 * 4 + 4) + (4 * 6 + 6) + (6 * 3 + 3)
    assert sizes["LIF (β = 0.8)"] == linear  # the LIF decay is fixed, as in the paper's code
    assert sizes["TC-LIF"] == linear + 2 * 2  # one learnable (β1, β2) pair per layer
    with pytest.raises(ValueError, match="widths"):
        rn.DeepSNN(1, [], 3, arms["TC-LIF"])


def test_deep_snn_first_layer_matches_a_hand_loop() -> None:
    torch.manual_seed(0)
    m = rn.DeepSNN(1, [3], 2, rn.tclif_arms(1.5, 0.7, 1.0)["TC-LIF"]).to(torch.float64)
    xs = torch.rand(30, 1, 1, dtype=torch.float64)
    with torch.no_grad():
        m.fcs[0].weight.fill_(2.0)
        m.fcs[0].bias.zero_()
        z = m.spikes(xs)[0][:, 0, 0].tolist()  # [T, B, 3] -> neuron 0
    assert z == _paper_tclif([2.0 * v for v in xs.flatten().tolist()], 1.5, 0.7) and math.fsum(z) > 0
