"""The task generators and model pieces of ``tools/research_neurons.py`` (issue 16), each checked
against a hand computation or an independent implementation. The training runs stay in the tool."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from spikeforge.data.generators import adding_problem

_spec = importlib.util.spec_from_file_location(
    "research_neurons_tool", Path(__file__).resolve().parents[2] / "tools" / "research_neurons.py")
assert _spec is not None and _spec.loader is not None
rn = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rn)
_cspec = importlib.util.spec_from_file_location(
    "research_common_tool", Path(__file__).resolve().parents[2] / "tools" / "research_common.py")
assert _cspec is not None and _cspec.loader is not None
common = importlib.util.module_from_spec(_cspec)  # the training loop and nets the task scripts share
_cspec.loader.exec_module(common)


def test_adding_problem_target_is_the_sum_of_the_two_marked_values_by_hand() -> None:
    x, target = adding_problem(1, 2, generator=torch.Generator().manual_seed(3))
    # two steps: one mark per half forces the marks onto steps 0 and 1
    assert x[0, :, 1].tolist() == [1.0, 1.0]
    assert target.item() == pytest.approx(float(x[0, 0, 0]) + float(x[0, 1, 0]))
    x, target = adding_problem(5, 9, generator=torch.Generator().manual_seed(0))
    for n in range(5):  # plain Python over the raw lists
        marks = [t for t, m in enumerate(x[n, :, 1].tolist()) if m == 1.0]
        assert len(marks) == 2 and marks[0] < 9 // 2 <= marks[1]
        vals = x[n, :, 0].tolist()
        assert target[n].item() == pytest.approx(vals[marks[0]] + vals[marks[1]], abs=1e-6)


def test_permuted_sequential_presents_one_pixel_per_step_in_permutation_order() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # [N=2, P=3]
    xs = rn.permuted_sequential(x, torch.tensor([2, 0, 1]))
    assert xs.shape == (3, 2, 1)
    assert xs[..., 0].tolist() == [[3.0, 6.0], [1.0, 4.0], [2.0, 5.0]]
    with pytest.raises(ValueError, match="perm"):
        rn.permuted_sequential(x, torch.tensor([0, 1]))


def test_encode_pixels_thermometer_and_level_crossings_by_hand() -> None:
    xs = torch.tensor([0.0, 0.9, 0.2, 0.6, 0.6]).view(5, 1, 1)  # one sequence, K = 2: levels 0.25, 0.75
    assert rn.encode_pixels(xs, "analog") is xs
    th = rn.encode_pixels(xs, "thermometer", 2)
    assert th[:, 0].tolist() == [[0, 0], [1, 1], [0, 0], [1, 0], [1, 0]]
    ev = rn.encode_pixels(xs, "crossing", 2)  # [ON 0.25, ON 0.75, OFF 0.25, OFF 0.75]
    assert ev[:, 0].tolist() == [[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]]
    # independent invariant on random pixels: running ON - OFF counts are the thermometer code
    xs = torch.rand(40, 3, 1, generator=torch.Generator().manual_seed(0))
    ev, th = rn.encode_pixels(xs, "crossing", 5), rn.encode_pixels(xs, "thermometer", 5)
    assert torch.equal(ev[..., :5].cumsum(0) - ev[..., 5:].cumsum(0), th)
    with pytest.raises(ValueError, match="encoding"):
        rn.encode_pixels(xs, "rate")
    with pytest.raises(ValueError, match="levels"):
        rn.encode_pixels(xs, "thermometer", 0)
    with pytest.raises(ValueError, match=r"\[T, N, 1\]"):
        rn.encode_pixels(xs[..., 0], "analog")


def test_tool_ultradlif_is_the_registered_neuron_learning_log_eps() -> None:
    """The tool's UltraDLIF is the registered neuron (golden-tested in tests/neurons/test_ultradlif.py) with
    one scalar parameter log ε: same outputs as the plain neuron, gradient d/d log ε = ε · d/d ε."""
    from spikeforge.neurons import UltraDLIF

    g = torch.Generator().manual_seed(0)
    xs = torch.randn(5, 2, 6, generator=g, dtype=torch.float64)  # [T, B, H]
    tool = rn.ultradlif(0.7).double()
    (log_eps,) = tool.parameters()
    assert isinstance(tool, UltraDLIF) and rn.n_params(tool) == 1
    assert log_eps.item() == torch.tensor(math.log(0.7)).item()  # log ε held in float32, then cast
    eps = log_eps.detach().exp()
    plain = UltraDLIF(eps=eps, learn=("eps",), dtype=torch.float64)
    out_t, out_p = tool(xs), plain(xs)
    torch.testing.assert_close(out_t, out_p, rtol=0, atol=1e-15)
    (out_t ** 2).sum().backward()
    (out_p ** 2).sum().backward()
    torch.testing.assert_close(log_eps.grad, eps * plain.eps.grad, rtol=1e-12, atol=0)


def test_delta_gru_is_the_gru_at_zero_threshold_and_bias_driven_when_nothing_is_sent() -> None:
    torch.manual_seed(0)
    gru = nn.GRU(3, 6).double()
    xs = torch.randn(12, 4, 3, dtype=torch.float64)
    with torch.no_grad():
        hs, dx, dh = rn.delta_gru(gru, xs, 0.0)
        torch.testing.assert_close(hs, gru(xs)[0], rtol=1e-10, atol=1e-10)
        assert (dh[0] == 0).all()  # h_{-1} = 0: nothing to send at the first step
        # a threshold above every change sends nothing: gates see only the biases, so
        # h_t = n (1 - z^{t+1}) with r, z, n constants (hand solution of h_t = (1 - z) n + z h_{t-1})
        hs, dx, dh = rn.delta_gru(gru, xs, 1e9)
        assert (dx == 0).all() and (dh == 0).all()
        b_ih, b_hh = (getattr(gru, k).detach() for k in ("bias_ih_l0", "bias_hh_l0"))
        r, z = torch.sigmoid(b_ih[:6] + b_hh[:6]), torch.sigmoid(b_ih[6:12] + b_hh[6:12])
        n = torch.tanh(b_ih[12:] + r * b_hh[12:])
        t = torch.arange(12, dtype=torch.float64).view(12, 1, 1)
        torch.testing.assert_close(hs, (n * (1 - z ** (t + 1))).expand(12, 4, 6))


def test_signal_task_classes_are_a_pure_sinusoid_and_unit_variance_ar1_noise() -> None:
    x, y = rn.signal_task(200, 60, 3, torch.Generator().manual_seed(0), noise=0.0)
    x = x.double()
    assert x.shape == (60, 200, 3) and set(y.tolist()) == {0, 1}
    sine, ar = x[:, y == 1], x[:, y == 0]
    # a sinusoid obeys x_{t+1} + x_{t-1} = 2 cos(w) x_t with one w per signal
    ratio = (sine[2:] + sine[:-2]) / sine[1:-1]
    ok = sine[1:-1].abs() > 0.2
    spread = torch.where(ok, ratio, float("nan"))
    assert (spread.nanquantile(1.0, 0) - spread.nanquantile(0.0, 0)).abs().max() < 1e-4
    assert ((spread.nanmean(0) / 2).abs() <= 1).all()
    # AR(1) with coefficient 0.9: innovations of variance 1 - 0.81, stationary variance 1
    innov = ar[1:] - 0.9 * ar[:-1]
    assert innov.var().item() == pytest.approx(0.19, rel=0.05)
    assert ar.var().item() == pytest.approx(1.0, rel=0.1)


def test_lzc_task_hidden_layer_fires_only_with_the_input_gain() -> None:
    # the diagnosis behind `lzc --input-gain`: on median-coded signals (rate 0.5) the τ = 5 ms LIF
    # hidden layer under PyTorch's default Linear init is (almost) silent at gain 1 and fires at gain 5
    from spikeforge.encoders.lzc import lzc_binarize
    from spikeforge.neurons import LIF
    x, _ = rn.signal_task(128, 100, 8, torch.Generator().manual_seed(0))
    x = lzc_binarize(x)  # [T, N, 8] spikes
    assert x.mean().item() == pytest.approx(0.5, abs=0.01)
    rates = {}
    for gain in (1.0, 5.0):
        torch.manual_seed(0)
        net = rn.LIFNet(8, 16, 2, LIF(tau_mem=5e-3, size=16), gain=gain)
        with torch.no_grad():
            hidden = net.hidden(x)
            torch.testing.assert_close(net.neuron(gain * net.fc(x)), hidden)
            rates[gain] = hidden.mean().item()
    assert rates[1.0] < 1e-3
    assert 0.02 < rates[5.0] < 0.5


def test_adam_neuron_lr_moves_neuron_parameters_by_their_own_learning_rate() -> None:
    # Adam's first step moves every parameter with a nonzero gradient by lr * sign(grad) (up to eps),
    # so after one step the neuron's parameters moved by neuron_lr and the weights by lr.
    from spikeforge.neurons import MetaNeuron
    torch.manual_seed(0)
    m = rn.LIFNet(3, 4, 2, MetaNeuron(tau_mem=5e-3, size=4), gain=5.0)
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    opt = common.adam(m, 1e-2, neuron_lr=1e-4)
    assert len(opt.param_groups) == 2
    m(torch.rand(6, 5, 3)).square().sum().backward()
    grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    opt.step()
    checked = set()
    for n, p in m.named_parameters():
        g = grads.get(n)
        if g is None:
            continue
        mask = g.abs() > 1e-6  # Adam's eps makes tiny gradients take smaller steps
        step = (before[n] - p.detach()).abs()[mask]
        want = 1e-4 if n.startswith("neuron.") else 1e-2
        torch.testing.assert_close(step, torch.full_like(step, want), rtol=1e-3, atol=0)
        checked.add(n.split(".")[0])
    assert checked == {"fc", "neuron", "out"}
    assert len(common.adam(m, 1e-2).param_groups) == 1
    with pytest.raises(ValueError, match="neuron_lr"):
        common.adam(nn.Linear(2, 2), 1e-2, neuron_lr=1e-3)


def test_log_eps_ultralif_is_the_plain_neuron_with_one_log_eps_parameter() -> None:
    """``--paper``'s UltraLIF: one scalar log ε per layer (the UltraLIF code's parametrization): same
    outputs as the plain neuron at that ε, gradient d/d log ε = ε · d/d ε."""
    from spikeforge.neurons import UltraLIF

    xs = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)  # [T, B, H]
    tool = rn.log_eps(UltraLIF(decay=0.9, learn=("eps",), backend="torch", dtype=torch.float64), 0.6)
    (log_eps,) = tool.parameters()
    assert log_eps.shape == () and log_eps.item() == math.log(0.6)
    eps = log_eps.detach().exp()
    plain = UltraLIF(decay=0.9, eps=eps, learn=("eps",), backend="torch", dtype=torch.float64)
    out_t, out_p = tool(xs), plain(xs)
    torch.testing.assert_close(out_t, out_p, rtol=0, atol=1e-15)
    out_t.sum().backward()
    out_p.sum().backward()
    torch.testing.assert_close(log_eps.grad, eps * plain.eps.grad, rtol=1e-12, atol=0)


def test_train_history_records_test_accuracy_after_every_epoch() -> None:
    """``history`` holds one test accuracy per epoch, the last equal to the returned one, each a
    multiple of 1/N; ``mean_std`` is the sample mean and std."""
    import statistics

    torch.manual_seed(0)
    x, xt = torch.randn(1, 40, 3), torch.randn(1, 20, 3)  # [T=1, N, I]
    y, yt = (x[0, :, 0] > 0).long(), (xt[0, :, 0] > 0).long()
    hist: list[float] = []
    acc = rn.train(nn.Sequential(nn.Linear(3, 2)), x, y, xt, yt, epochs=4, lr=0.05, readout="mean", batch=16,
                   history=hist)
    assert len(hist) == 4 and hist[-1] == acc and all(abs(a * 20 - round(a * 20)) < 1e-5 for a in hist)
    assert hist[0] < acc and acc >= 0.8  # learns a linearly separable sign task over the epochs
    v = [0.25, 0.5, 1.0]
    assert rn.mean_std(v) == f"{statistics.fmean(v):.3f} ± {statistics.stdev(v):.3f}"
    assert rn.mean_std([0.5]) == "0.500"
