"""Delay tasks: parameter budgets by hand, pruning by hand, and learned delays beating no delays on XOR."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.tasks.delays._train import TrainConfig
from spikeforge.tasks.delays.models import build_matched, count_params
from spikeforge.tasks.delays.motion import MotionConfig, load_motion, prune_first_layer, run_motion
from spikeforge.tasks.delays.run import PRESETS, DelayTaskConfig, run_task


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny per-step ops (tests/conftest.py)


def test_matched_budgets_counted_by_hand() -> None:
    nets = build_matched(16, 4, 32, K=41, beta=0.8)
    # delay: 16·32 weights + 16·32 positions + 32 biases, readout 32·4 + 4 = 1188
    # plain (H=56): 16·56 + 56 + 56·4 + 4 = 1180; H=57 would be 1201 > 1188
    # rsnn (H=25): 16·25 + 25·25 + 25 + 25·4 + 4 = 1154; H=26 would be 1226 > 1188
    assert {k: (n.hidden, count_params(m)) for k, (n, m) in nets.items()} == {
        "delay": (32, 1188), "plain": (56, 1180), "rsnn": (25, 1154)}
    assert nets["delay"][1][0].K == 41


def test_prune_first_layer_zeros_the_weakest_synapses() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.5, -0.1, 2.0], [-3.0, 0.2, -0.05]]))
    pruned = prune_first_layer(model, 0.5)  # the 3 smallest |w|: -0.05, -0.1, 0.2
    assert torch.equal(pruned[0].weight, torch.tensor([[0.5, 0.0, 2.0], [-3.0, 0.0, 0.0]]))
    assert model[0].weight[0, 1].item() == pytest.approx(-0.1)  # the original is untouched
    with pytest.raises(ValueError, match="fraction"):
        prune_first_layer(model, 1.0)


def test_motion_input_is_a_sum_pool_of_the_events() -> None:
    cfg = MotionConfig(n_train=3, n_test=2, pool=4, merge_polarity=True)
    x_tr, y_tr, x_te, _ = load_motion(cfg, seed=0)
    assert x_tr.shape == (3, 40, 64) and x_te.shape == (2, 40, 64) and y_tr.shape == (3,)
    from spikeforge.data import load_dataset
    ds = load_dataset("moving_shape", "train", n_samples=3, label="direction", num_classes=8, dt=5e-3,
                      noise_rate=1.0, seed=0)
    raw = ds[1][0]  # [T, 2, 32, 32]
    blocks = raw.sum(1).reshape(40, 8, 4, 8, 4).sum((2, 4))  # [T, 8, 8]: 4×4 blocks, ON + OFF
    assert torch.equal(x_tr[1], blocks.reshape(40, 64))


def test_learned_delays_beat_no_delays_on_tiny_xor() -> None:
    """A tiny config (two delays of 6 and 2 steps, 128 sequences of 24 steps, 20 epochs): the delay
    network must solve much more of the task than the same network without delays (chance 50 %)."""
    cfg = DelayTaskConfig(task="xor", n_train=128, n_test=64, steps=24, delays=(6, 2), hidden=16, K=9,
                          train=TrainConfig(epochs=20, batch=16))
    rows = {r["kind"]: r for r in run_task(cfg, [0], ("delay", "plain"))}
    assert rows["delay"]["params"] >= rows["plain"]["params"]
    assert rows["delay"]["test_accuracy"] >= 0.7
    assert rows["delay"]["test_accuracy"] - rows["plain"]["test_accuracy"] >= 0.15


@pytest.mark.slow
def test_xor_preset_full_run_one_seed() -> None:
    """The shipped ``xor`` preset (delays 12 and 4, 40 epochs), one seed, delay vs plain."""
    rows = {r["kind"]: r for r in run_task(PRESETS["xor"], [0], ("delay", "plain"))}
    assert rows["delay"]["test_accuracy"] >= 0.9
    assert rows["plain"]["test_accuracy"] <= 0.65


@pytest.mark.slow
def test_learned_delays_beat_the_recurrent_control_on_tiny_xor() -> None:
    """The tiny XOR config of the test above, against the recurrent network at the same budget
    (all-to-all recurrent weights can hold the past, but 8 neurons at 106 parameters do not learn
    the two delays here; measured 0.54-0.57 over seeds 0-2, delay 0.74-0.96)."""
    cfg = DelayTaskConfig(task="xor", n_train=128, n_test=64, steps=24, delays=(6, 2), hidden=16, K=9,
                          train=TrainConfig(epochs=20, batch=16))
    rows = {r["kind"]: r for r in run_task(cfg, [0], ("delay", "rsnn"))}
    assert rows["delay"]["params"] >= rows["rsnn"]["params"]
    assert rows["delay"]["test_accuracy"] - rows["rsnn"]["test_accuracy"] >= 0.15


@pytest.mark.slow
def test_motion_direction_needs_delays_and_degrades_with_pruning() -> None:
    """Crossing shapes with ON and OFF summed (4 directions): only the timing tells θ from θ + π, so
    the network without delays stays near 50 % (it can still tell the axis) while the delay layer
    reads the direction; pruning 95 % of its synapses by |w| takes most of that away. Measured on
    seeds 0-2 (160 training samples, 25 epochs): delay 0.80-1.00, plain 0.47-0.49, delay pruned
    to 5 % 0.34-0.61."""
    cfg = MotionConfig(num_classes=4, n_train=160, n_test=80, speed_range=(300.0, 450.0), merge_polarity=True,
                       prune=(0.0, 0.95), train=TrainConfig(epochs=25, lr=5e-3, lr_positions=0.5))
    acc = {(r["kind"], r["prune"]): r["test_accuracy"] for r in run_motion(cfg, [0])}
    assert acc["delay", 0.0] >= 0.8
    assert acc["plain", 0.0] <= 0.65
    assert acc["delay", 0.0] - acc["delay", 0.95] >= 0.2
