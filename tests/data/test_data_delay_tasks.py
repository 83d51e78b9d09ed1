"""Delay-learning generators: targets against a plain per-step loop, motifs against their offsets."""

from __future__ import annotations

import pytest
import torch

from spikeforge.data import load_dataset
from spikeforge.data.generators.delay_tasks import delayed_logic, make_motifs, spiking_motifs


@pytest.mark.parametrize("op", ["and", "xor"])
def test_delayed_logic_matches_a_per_step_loop(op: str, gen: torch.Generator) -> None:
    x, y = delayed_logic(5, 20, delays=(7, 2), op=op, generator=gen)
    assert x.shape == (5, 20, 2) and y.shape == (5, 20) and y.dtype == torch.long
    for n in range(5):
        for t in range(20):
            a = bool(x[n, t - 7, 0]) if t >= 7 else False  # zero before the first input
            b = bool(x[n, t - 2, 1]) if t >= 2 else False
            assert int(y[n, t]) == int((a and b) if op == "and" else (a != b)), (n, t)


def test_delayed_logic_rates_and_errors(gen: torch.Generator) -> None:
    _, y = delayed_logic(200, 100, delays=(10, 3), op="xor", generator=gen)
    assert abs(y[:, 10:].float().mean().item() - 0.5) < 0.02  # balanced XOR at rate 0.5
    _, y = delayed_logic(200, 100, delays=(10, 3), op="and", generator=gen)
    assert abs(y[:, 10:].float().mean().item() - 0.25) < 0.02  # coincidence rate 0.5²
    with pytest.raises(ValueError, match="op"):
        delayed_logic(1, 20, op="or")
    with pytest.raises(ValueError, match="delays"):
        delayed_logic(1, 10, delays=(10, 0))
    with pytest.raises(ValueError, match="rate"):
        delayed_logic(1, 20, rate=1.0)


def test_motifs_are_pasted_at_their_offsets_and_counts_carry_no_label(gen: torch.Generator) -> None:
    motifs = make_motifs(3, 6, 9, generator=gen)  # [3, 6] offsets in 0 … 8
    x, label = spiking_motifs(9, motifs, steps=25, noise_rate=0.0, generator=gen)
    assert label.tolist() == [0, 1, 2] * 3
    assert torch.equal(x.sum(1), torch.ones(9, 6))  # one spike per channel, whatever the class
    for n in range(9):
        times = x[n].argmax(0)  # [C] spike step of each channel
        rel = times - times.min()
        assert torch.equal(rel, motifs[label[n]] - motifs[label[n]].min())


def test_motif_jitter_stays_bounded(gen: torch.Generator) -> None:
    motifs = torch.tensor([[0, 5, 9], [9, 5, 0]])
    x, label = spiking_motifs(40, motifs, steps=14, noise_rate=0.0, jitter=2, generator=gen)
    times = x.argmax(1)  # [N, C]
    spread = times[:, 2] - times[:, 0]
    expect = torch.where(label == 0, 9, -9)
    assert bool(((spread - expect).abs() <= 4).all())
    with pytest.raises(ValueError, match="motif length"):
        spiking_motifs(1, motifs, steps=12, jitter=2)
    with pytest.raises(ValueError, match="int64"):
        spiking_motifs(1, motifs.float(), steps=20)


def test_spiking_motifs_dataset_shares_motifs_across_splits() -> None:
    tr = load_dataset("spiking_motifs", "train", n_samples=8, steps=30, motif_len=10, noise_rate=0.0)
    te = load_dataset("spiking_motifs", "test", n_samples=8, steps=30, motif_len=10, noise_rate=0.0)
    for i in range(8):  # same class → same relative spike times in both splits
        (a, ya), (b, yb) = tr[i], te[i]
        assert int(ya) == int(yb)
        ta, tb = a.argmax(0), b.argmax(0)
        assert torch.equal(ta - ta.min(), tb - tb.min())
