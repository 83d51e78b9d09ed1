"""Measure the research neurons of issue 16 on offline tasks; numbers go to docs/research_neurons.md.

Task ``cue``: ELM vs a LIF SNN vs an LSTM of similar parameter count on the delayed-cue generator
(remember which of 4 classes was cued, across a silent delay, report at the go step).
Task ``adding``: the same three models on the adding problem (regress the sum of the two marked
values of a length-``--steps`` sequence); MSE and the fraction within 0.04 of the target.
Task ``lzc``: SNN with fixed-parameter LIF vs the meta neuron (every intrinsic parameter learned),
and the SNN-LZC read-out (LZC of the meta-SNN's output spike trains, nearest class mean), on a
generated two-class spike-train task: Poisson vs. a regular (periodic-burst) train of equal rate;
with ``--signal``, on generated signals (AR(1) noise vs a noisy sinusoid) coded by the LZC encoder.
Task ``ultra``: UltraLIF / UltraPLIF / UltraDLIF (no surrogate) vs LIF / PLIF (atan surrogate) in a
one-hidden-layer FC net on 8x8 digits (or mnist1d), static input fed at each of ``--T`` steps.
Task ``seq``: L2MU, a LIF SNN and EGRU (vs a dense GRU) on permuted sequential digits (one pixel per
step, 64 steps; analog, or binary thermometer / level-crossing codes of it), with activity sparsity
(fraction of zero outputs).
Task ``tclif``: TC-LIF vs LIF (decay 0.8) in the TC-LIF paper's feed-forward net (1 -> 64 -> 256 -> 256
-> 10 by default, logits summed over time, triangle surrogate) on permuted sequential digits (as ``seq``)
or mnist1d read as 40 steps (``--data mnist1d``); accuracy and the hidden layers' firing rates.
Task ``delta``: a GRU trained dense (with and without an L1 penalty on its hidden-state changes) on
mnist1d read as a 40-step sequence, then run as a delta network: accuracy and the fraction of zero
deltas / skipped MACs over a sweep of the threshold.

    .venv/bin/python tools/research_neurons.py cue --delay 50 --seeds 0 1
    .venv/bin/python tools/research_neurons.py adding --steps 50 --seeds 0
    .venv/bin/python tools/research_neurons.py lzc --seeds 0 1
    .venv/bin/python tools/research_neurons.py lzc --signal --seeds 0 1
    .venv/bin/python tools/research_neurons.py ultra --T 1 4 --seeds 0
    .venv/bin/python tools/research_neurons.py ultra --data mnist1d --T 1 4 --epochs 100 --lr 1e-3 --seeds 0 1 2 --paper
    .venv/bin/python tools/research_neurons.py seq --seeds 0
    .venv/bin/python tools/research_neurons.py delta --seeds 0
    .venv/bin/python tools/research_neurons.py tclif --seeds 0 1
    .venv/bin/python tools/research_neurons.py l2mu-rates --l2mu-theta 64
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from typing import Any
from pathlib import Path

import torch
from torch import Tensor, nn

from spikeforge.data.generators import adding_problem, delayed_cue
from spikeforge.encoders.lzc import lempel_ziv_complexity, lzc_binarize
from spikeforge.layers.egru import EGRU
from spikeforge.layers.elm import ELM
from spikeforge.layers.l2mu import L2MU
from spikeforge.layers.nir_prims import Scale
from spikeforge.neurons import LIF, MetaNeuron, UltraLIF
from spikeforge.neurons.tc_lif import TCLIF

sys.path.insert(0, str(Path(__file__).resolve().parent))
from research_common import (DeepSNN, LIFNet, LSTMNet, RNNNet, delta_gru, encode_pixels, fit, last,  # noqa: E402
                             load_static, log_eps, n_params, permuted_sequential, sum_t, tclif_arms, train,
                             ultradlif)


def memory_models(c: int, o: int) -> dict[str, nn.Module]:
    """ELM, a feed-forward LIF SNN and an LSTM of similar (ELM ≈ LIF < LSTM) size."""
    return {
        "ELM d_m=16": ELM(c, memory_size=16, output_size=o, hidden_size=16),
        "LIF SNN h=48": LIFNet(c, 48, o, LIF(tau_mem=20e-3, size=48, learn=("tau_mem",))),
        "LSTM h=16": LSTMNet(c, 16, o),
    }


def task_cue(args: argparse.Namespace) -> None:
    print("| model | params | delay | seed | test acc | wall s |")
    for seed in args.seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = delayed_cue(args.n_train, 4, delay=args.delay, generator=g)
        xt, yt = delayed_cue(500, 4, delay=args.delay, generator=g)
        x, xt = x.transpose(0, 1), xt.transpose(0, 1)  # [N, T, C] -> [T, N, C]
        torch.manual_seed(seed)
        for name, m in memory_models(x.shape[-1], 4).items():
            t0 = time.time()
            acc = train(m, x, y, xt, yt, epochs=args.epochs, lr=args.lr)
            wall = time.time() - t0
            print(f"| {name} | {n_params(m)} | {args.delay} | {seed} | {acc:.3f} | {wall:.0f} |", flush=True)


def task_adding(args: argparse.Namespace) -> None:
    """Regression at the last step; MSE vs the constant-1 predictor's 1/6, and the fraction of test
    sequences within 0.04 of the target (Hochreiter & Schmidhuber's success criterion)."""
    print("| model | params | steps | seed | test MSE | within 0.04 | wall s |")
    for seed in args.seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = adding_problem(args.n_train, args.steps, generator=g)
        xt, yt = adding_problem(500, args.steps, generator=g)
        x, xt = x.transpose(0, 1), xt.transpose(0, 1)  # [N, T, 2] -> [T, N, 2]
        base = ((yt - 1.0) ** 2).mean().item()
        print(f"| predict 1 (no memory) | 0 | {args.steps} | {seed} | {base:.4f} | "
              f"{((yt - 1).abs() < 0.04).float().mean().item():.3f} | - |")
        torch.manual_seed(seed)
        for name, m in memory_models(2, 1).items():
            t0 = time.time()
            fit(m, x, y, epochs=args.epochs, lr=args.lr, loss_fn=nn.functional.mse_loss,
                head=lambda out: out[-1, :, 0])
            with torch.no_grad():
                err = m(xt)[-1, :, 0] - yt
            print(f"| {name} | {n_params(m)} | {args.steps} | {seed} | {(err ** 2).mean().item():.4f} | "
                  f"{(err.abs() < 0.04).float().mean().item():.3f} | {time.time() - t0:.0f} |", flush=True)


def spike_task(n: int, T: int, C: int, rate: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Class 0: Poisson (Bernoulli per step) trains; class 1: periodic bursts (phase random) of the
    same mean rate. Returns ``(x [T, n, C], y [n])``."""
    y = torch.randint(0, 2, (n,), generator=g)
    pois = (torch.rand(T, n, C, generator=g) < rate).float()
    period = int(round(1 / rate))
    phase = torch.randint(0, period, (1, n, C), generator=g)
    t = torch.arange(T).view(T, 1, 1)
    reg = ((t + phase) % period == 0).float()
    jitter = (torch.rand(T, n, C, generator=g) < 0.02).float()  # a little noise on the regular class
    reg = torch.clamp(reg + jitter, max=1.0)
    x = torch.where((y == 1).view(1, n, 1), reg, pois)
    return x, y


def signal_task(n: int, T: int, C: int, g: torch.Generator, noise: float = 1.0) -> tuple[Tensor, Tensor]:
    """Class 0: AR(1) noise :math:`a_t = 0.9 a_{t-1} + e_t`, scaled to unit variance; class 1: a sinusoid
    :math:`\\sqrt 2 \\sin(\\omega t + \\phi)` (ω uniform in [0.1, 0.6] rad/step, φ random) plus ``noise`` times
    such AR(1) noise. Each channel is an independent signal of the sample's class.
    Returns ``(signals [T, n, C], y [n])``."""
    y = torch.randint(0, 2, (n,), generator=g)
    e = torch.randn(T, n, C, generator=g) * math.sqrt(1 - 0.81)  # stationary variance 1
    ar = [torch.randn(n, C, generator=g)]
    for t in range(1, T):
        ar.append(0.9 * ar[-1] + e[t])
    a = torch.stack(ar)  # [T, n, C]
    w = 0.1 + 0.5 * torch.rand(1, n, C, generator=g)
    phi = 2 * math.pi * torch.rand(1, n, C, generator=g)
    sine = math.sqrt(2) * torch.sin(w * torch.arange(T).view(T, 1, 1) + phi) + noise * a
    return torch.where((y == 1).view(1, n, 1), sine, a), y


def logistic_accuracy(f: Tensor, y: Tensor, ft: Tensor, yt: Tensor, steps: int = 300) -> float:
    """Two-class logistic regression on standardised features ``f [N, F]`` (L-BFGS, weight decay
    1e-3, fitted on the training set); returns the test accuracy on ``ft``."""
    mu, sd = f.mean(0), f.std(0).clamp_min(1e-6)
    a, b = (f - mu) / sd, (ft - mu) / sd
    w = torch.zeros(a.shape[1] + 1, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=steps)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(a @ w[:-1] + w[-1], y.float()) + 1e-3 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return ((b @ w[:-1] + w[-1] > 0).long() == yt).float().mean().item()


def task_lzc(args: argparse.Namespace) -> None:
    """``--signal``: the generated signals of :func:`signal_task`, LZC-encoded (median threshold)
    before the SNN; otherwise the Poisson-vs-regular spike trains of :func:`spike_task`.
    ``--input-gain`` scales the hidden current (1 leaves the τ = 5 ms hidden layer nearly silent on
    these inputs). LZC read-outs: nearest class mean of the LZC averaged over trains, and logistic
    regression on the vector of per-train LZCs (one per hidden neuron, or per input channel).
    ``--meta-lr``: the meta neuron's intrinsic parameters get their own Adam learning rate."""
    print("| data | model | params | seed | test acc | hidden rate | wall s |")
    data = "LZC-coded signals" if args.signal else "spike trains"
    summary: dict[str, list[float]] = {}
    for seed in args.seeds:
        g = torch.Generator().manual_seed(seed)
        if args.signal:
            (x, y), (xt, yt) = signal_task(args.n_train, 100, 8, g), signal_task(500, 100, 8, g)
            x, xt = lzc_binarize(x), lzc_binarize(xt)  # [T, N, 8] spikes
        else:
            (x, y), (xt, yt) = spike_task(args.n_train, 100, 8, 0.2, g), spike_task(500, 100, 8, 0.2, g)
        results = {}
        meta_learn: dict[str, Any] = {} if args.meta_learn is None else {"learn": tuple(args.meta_learn)}
        for name, neuron in (("LIF (fixed intrinsic)", LIF(tau_mem=5e-3, size=16)),
                             ("meta (learned intrinsic)", MetaNeuron(tau_mem=5e-3, size=16, reset=args.meta_reset,
                                                                   **meta_learn))):
            torch.manual_seed(seed)
            m = LIFNet(8, 16, 2, neuron, gain=args.input_gain)
            t0 = time.time()
            acc = train(m, x, y, xt, yt, epochs=args.epochs, lr=args.lr, readout="mean",
                        neuron_lr=args.meta_lr if name.startswith("meta") else None)
            results[name] = m
            with torch.no_grad():
                rate = m.hidden(xt).mean().item()
            summary.setdefault(name, []).append(acc)
            summary.setdefault(f"{name}, hidden rate", []).append(rate)
            print(f"| {data} | {name} | {n_params(m)} | {seed} | {acc:.3f} | {rate:.3f} | {time.time() - t0:.0f} |",
                  flush=True)
        if args.no_lzc_readout:
            continue
        # SNN-LZC: LZC of the meta-SNN's hidden spike trains; input LZC: of the input trains
        meta = results["meta (learned intrinsic)"]
        with torch.no_grad():
            f, ft = lempel_ziv_complexity(meta.hidden(x)), lempel_ziv_complexity(meta.hidden(xt))  # [N, H]
            raw, rawt = lempel_ziv_complexity(x), lempel_ziv_complexity(xt)  # [T, N, C] -> [N, C]
        for label, (a, b) in (("SNN-LZC (meta hidden spikes)", (f, ft)), ("LZC of the input spikes", (raw, rawt))):
            mu = torch.stack([a.mean(-1)[y == k].mean() for k in (0, 1)])
            pred = (b.mean(-1)[:, None] - mu).abs().argmin(-1)
            near, logi = (pred == yt).float().mean().item(), logistic_accuracy(a, y, b, yt)
            summary.setdefault(f"{label}, mean over trains", []).append(near)
            summary.setdefault(f"{label}, per-train vector", []).append(logi)
            print(f"| {data} | {label}, mean over trains | 2 class means | {seed} | {near:.3f} | - | - |", flush=True)
            print(f"| {data} | {label}, per-train vector | logistic ({a.shape[1] + 1}) | {seed} | {logi:.3f} | - | - |",
                  flush=True)
    print(f"\nmean ± std over seeds {args.seeds} ({data}, input gain {args.input_gain:g}, {args.epochs} epochs"
          f"{'' if args.meta_lr is None else f', meta lr {args.meta_lr:g}'})\n")
    print("| model | test acc |\n|---|---|")
    for name, v in summary.items():
        print(f"| {name} | {mean_std(v)} |")


def mean_std(v: list[float]) -> str:
    """``mean ± std`` (sample std) of ``v``; one value prints as itself."""
    m = sum(v) / len(v)
    if len(v) == 1:
        return f"{m:.3f}"
    return f"{m:.3f} ± {math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1)):.3f}"


def task_ultra(args: argparse.Namespace) -> None:
    """Hidden 64 (the paper's width), mean-over-time read-out; Ultra rows also report the accuracy
    with the hidden soft spikes binarized at 0.5 at inference and the (soft) spike rate.
    ``--ultra-gain`` scales every model's hidden current alike; ``--models`` keeps only some neurons.

    ``--paper``: the set-up of the UltraLIF code as far as it is known (reference §4.2): inputs
    standardized per feature with the training split's mean and std (the paper normalizes MNIST to
    zero mean, unit std), batch 128, one learned ε per layer trained as log ε, and a LIF whose input
    enters with unit weight, ``v' = τ v + I`` (our reading of a "standard LIF"; the paper's LIF file
    is not in the stored repository), like UltraLIF's ``I``; the "best epoch" column is the paper's
    metric (max test accuracy over epochs). Ablations of ``--paper``: ``--euler-lif`` keeps the Euler
    LIF (input weight ≈ 0.1), ``--raw-inputs`` the features as loaded. Without it: features as
    loaded, batch 64, ε per neuron, and the Euler LIF (input weight dt/τ ≈ 0.1) of the earlier runs.
    A summary (mean ± std over the seeds) follows the per-seed rows."""
    print("| neuron | gradient | data | T | gain | params | seed | test acc | best epoch | acc binarized | rate | "
          "wall s |")
    decay_tau = -1e-3 / math.log(0.9)  # LIF tau_mem (s) whose per-step decay is the paper's tau = 0.9
    if args.paper:
        neurons: dict[str, tuple[str, Callable[[], nn.Module]]] = {
            "LIF": ("atan surrogate", lambda: LIF(tau_mem=decay_tau, size=64) if args.euler_lif
                    else LIF.from_decay(0.9, size=64)),
            "PLIF (learned tau)": ("atan surrogate", lambda: LIF.from_decay(0.9, size=64, learn=("beta",))),
            "UltraLIF": ("exact (none)", lambda: log_eps(UltraLIF(decay=0.9, learn=("eps",)))),
            "UltraPLIF": ("exact (none)", lambda: log_eps(UltraLIF(decay=0.9, learn=("eps", "decay")))),
            "UltraDLIF": ("exact (none)", lambda: ultradlif()),
        }
    else:
        neurons = {
            "LIF": ("atan surrogate", lambda: LIF(tau_mem=decay_tau, size=64)),
            "PLIF (learned tau)": ("atan surrogate", lambda: LIF(tau_mem=decay_tau, size=64, learn=("tau_mem",))),
            "UltraLIF": ("exact (none)", lambda: UltraLIF(decay=0.9, size=64, learn=("eps",))),
            "UltraPLIF": ("exact (none)", lambda: UltraLIF(decay=0.9, size=64, learn=("eps", "decay"))),
            "UltraDLIF": ("exact (none)", lambda: ultradlif()),
        }
    summary: dict[tuple[str, int], dict[str, list[float]]] = {}
    for seed in args.seeds:
        x, y, xt, yt = load_static(args.data, seed)
        if args.paper and not args.raw_inputs:  # z-score each feature with the training split's statistics
            mu, sd = x.mean(0), x.std(0).clamp_min(1e-6)
            x, xt = (x - mu) / sd, (xt - mu) / sd
        for T in args.T:
            xs, xts = x.expand(T, *x.shape), xt.expand(T, *xt.shape)  # [N, F] -> [T, N, F] (static each step)
            for name, (grad, make) in neurons.items():
                if args.models is not None and not any(name.startswith(k) for k in args.models):
                    continue
                torch.manual_seed(seed)
                m = LIFNet(x.shape[1], 64, 10, make(), gain=args.ultra_gain)
                t0 = time.time()
                hist: list[float] = []
                acc = train(m, xs, y, xts, yt, epochs=args.epochs, lr=args.lr, readout="mean",
                            batch=128 if args.paper else 64, history=hist)
                with torch.no_grad():
                    s = m.hidden(xts)  # [T, M, 64]
                    binar = float("nan")
                    if name.startswith("Ultra"):
                        binar = (m.out((s > 0.5).float()).mean(0).argmax(-1) == yt).float().mean().item()
                rec = summary.setdefault((name, T), {"acc": [], "best": [], "bin": [], "rate": []})
                rec["acc"].append(acc)
                rec["best"].append(max(hist))
                rec["bin"].append(binar)
                rec["rate"].append(s.mean().item())
                print(f"| {name} | {grad} | {args.data} | {T} | {args.ultra_gain:g} | {n_params(m)} | {seed} | "
                      f"{acc:.3f} | {max(hist):.3f} | {'-' if binar != binar else f'{binar:.3f}'} | "
                      f"{s.mean().item():.3f} | {time.time() - t0:.0f} |", flush=True)
    print(f"\nmean ± std over seeds {args.seeds} ({args.data}, gain {args.ultra_gain:g}"
          f"{', --paper' if args.paper else ''}{', Euler LIF' if args.euler_lif else ''}"
          f"{', raw inputs' if args.raw_inputs else ''}, {args.epochs} epochs, lr {args.lr:g})\n")
    print("| neuron | T | test acc | best epoch | acc binarized | rate |\n|---|---|---|---|---|---|")
    for (name, T), rec in summary.items():
        b = "-" if rec["bin"][0] != rec["bin"][0] else mean_std(rec["bin"])
        print(f"| {name} | {T} | {mean_std(rec['acc'])} | {mean_std(rec['best'])} | {b} | {mean_std(rec['rate'])} |")


def task_seq(args: argparse.Namespace) -> None:
    """Permuted sequential digits (64 steps, one pixel each, coded by ``--seq-encoding``; every model
    gets the same input). L2MU: logits are the output population's spike counts; LIF: Linear -> LIF ->
    Linear, outputs summed over time; EGRU/GRU: linear read-out at the last step. Zero fraction = share
    of exactly-zero outputs over all steps, samples and units of the test set."""
    print("| model | params | seed | test acc | zero fraction (outputs) | wall s |")
    for seed in args.seeds:
        x, y, xt, yt = load_static("digits", seed)
        perm = torch.randperm(64, generator=torch.Generator().manual_seed(1234))  # one fixed permutation
        xs, xts = permuted_sequential(x, perm), permuted_sequential(xt, perm)  # [64, N, 1]
        xs, xts = (encode_pixels(z, args.seq_encoding, args.seq_levels) for z in (xs, xts))  # [64, N, I]
        i = xs.shape[-1]
        torch.manual_seed(seed)
        h = args.hidden
        c, gain, ig = args.l2mu_encoder, args.l2mu_gain, args.l2mu_input_gain
        pops = {k: tuple(v) for k, v in (("beta", args.l2mu_beta), ("v_th", args.l2mu_vth)) if v is not None}
        d = args.l2mu_order
        l2mu = L2MU(i, hidden_size=h, output_size=10, encoder_size=c, order=d, theta=args.l2mu_theta,
                    memory_gain=gain, transpose_a=args.l2mu_transpose_a, clamp_beta=args.l2mu_clamp_beta,
                    **pops)  # type: ignore[arg-type]
        tag = (f", g_m={gain:g}" if gain != 1 else "") + (", Āᵀ" if args.l2mu_transpose_a else "") + \
            (", β clamped" if args.l2mu_clamp_beta else "") + \
            (f", input ×{ig:g}" if ig != 1 else "") + "".join(f", {k} {v}" for k, v in pops.items())
        models: dict[str, tuple[L2MU | RNNNet | LIFNet | nn.Sequential, str]] = {
            f"L2MU h={h}, C={c}, d={d}, θ={args.l2mu_theta:g}{tag}": (nn.Sequential(Scale(ig), l2mu), "sum"),
            f"LIF h={h}": (LIFNet(i, h, 10, LIF(tau_mem=20e-3, size=h, learn=("tau_mem",))), "sum"),
            f"EGRU h={h}": (RNNNet(EGRU(i, h), h, 10), "last"),
            f"GRU h={h} (dense)": (RNNNet(nn.GRU(i, h), h, 10), "last"),
        }
        for name, (m, readout) in models.items():
            if args.models and not any(name.startswith(p) for p in args.models):
                continue
            t0 = time.time()
            head: Callable[[Tensor], Tensor] = last if readout == "last" else sum_t
            fit(m, xs, y, epochs=args.epochs, lr=args.lr, loss_fn=nn.functional.cross_entropy, head=head)
            with torch.no_grad():
                acc = (head(m(xts)).argmax(-1) == yt).float().mean().item()
                if isinstance(m, nn.Sequential):  # L2MU behind its input gain
                    state, zh, zm = None, [], []
                    for t in range(xts.shape[0]):  # step to read the hidden/memory populations' spikes
                        _, state = l2mu.run(ig * xts[t:t + 1], state)
                        zh.append(state.zh)
                        zm.append(state.zm)
                    zero = (f"hidden {(torch.stack(zh) == 0).float().mean().item():.3f}, "
                            f"memory {(torch.stack(zm) == 0).float().mean().item():.3f}, "
                            f"output {(m(xts) == 0).float().mean().item():.3f}")
                elif isinstance(m, (LIFNet, RNNNet)):
                    zero = f"hidden {(m.hidden(xts) == 0).float().mean().item():.3f}"
                else:
                    raise TypeError(f"no hidden read-out for {type(m).__name__}")
            print(f"| {name} | {n_params(m)} | {seed} | {acc:.3f} | {zero} | {time.time() - t0:.0f} |", flush=True)
    print(f"input: {args.seq_encoding}" + (f", {args.seq_levels} levels" if args.seq_encoding != "analog" else ""))


def task_l2mu_rates(args: argparse.Namespace) -> None:
    """Untrained L2MU (seed 0 init) on the permuted sequential test digits: the memory population's
    firing with the paper's wiring (g_m = 1) and our optional gain (g_m = θ). Per memory neuron the
    rate over all steps and samples; "latched" = rate > 0.9 (fired once, then kept firing); pixels
    scaled by ``--l2mu-input-gain``."""
    print("| θ | g_m | memory rate | silent neurons | latched neurons | hidden rate |")
    _, _, xt, _ = load_static("digits", 0)
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(1234))
    xts = permuted_sequential(xt, perm)  # [64, N, 1]
    for gain in (1.0, args.l2mu_theta):
        torch.manual_seed(0)
        m = L2MU(1, hidden_size=args.hidden, output_size=10, encoder_size=4, order=4, theta=args.l2mu_theta,
                 memory_gain=gain)
        state, zm, zh = None, [], []
        with torch.no_grad():
            for t in range(xts.shape[0]):
                _, state = m.run(args.l2mu_input_gain * xts[t:t + 1], state)
                zm.append(state.zm)
                zh.append(state.zh)
        per = torch.stack(zm).mean((0, 1))  # [T, N, C·d] -> [C·d]
        n = per.numel()
        print(f"| {args.l2mu_theta:g} | {gain:g} | {per.mean().item():.3f} | {(per == 0).sum().item()} / {n} | "
              f"{(per > 0.9).sum().item()} / {n} | {torch.stack(zh).mean().item():.3f} |", flush=True)


def task_tclif(args: argparse.Namespace) -> None:
    """TC-LIF vs LIF (see :func:`tclif_arms`) in :class:`DeepSNN` (``--widths``), logits summed over
    time. digits: one pixel per step in the fixed permutation of ``seq`` (64 steps); mnist1d: its 40
    values in order. Rate = mean spike count per neuron per step on the test set, per hidden layer."""
    print("| neuron | data | widths | params | seed | test acc | rate per layer (test) | β1, β2 learned | wall s |")
    for seed in args.seeds:
        x, y, xt, yt = load_static(args.data, seed)
        if args.data == "digits":
            perm = torch.randperm(64, generator=torch.Generator().manual_seed(1234))  # the seq task's permutation
            xs, xts = permuted_sequential(x, perm), permuted_sequential(xt, perm)  # [64, N, 1]
        else:
            xs, xts = x.T.unsqueeze(-1), xt.T.unsqueeze(-1)  # [N, 40] -> [40, N, 1]
        for name, make in tclif_arms(args.tc_v_th, args.tc_gamma, args.sg_width).items():
            if args.models and not any(name.startswith(p) for p in args.models):
                continue
            torch.manual_seed(seed)
            m = DeepSNN(1, args.widths, 10, make)
            t0 = time.time()
            fit(m, xs, y, epochs=args.epochs, lr=args.lr, loss_fn=nn.functional.cross_entropy, head=sum_t)
            wall = time.time() - t0
            with torch.no_grad():
                acc = (m(xts).sum(0).argmax(-1) == yt).float().mean().item()
                rates = "/".join(f"{z.mean().item():.3f}" for z in m.spikes(xts))
            betas = ", ".join(f"({torch.sigmoid(n.beta1).item():.2f}, {torch.sigmoid(n.beta2).item():.2f})"
                              for n in m.neurons if isinstance(n, TCLIF)) or "-"
            print(f"| {name} | {args.data} | {'-'.join(map(str, args.widths))} | {n_params(m)} | {seed} | {acc:.3f} | "
                  f"{rates} | {betas} | {wall:.0f} |", flush=True)


def task_delta(args: argparse.Namespace) -> None:
    """mnist1d read as 40 steps of one value. A GRU (h = ``--hidden``) is trained dense, without and
    with ``--l1`` · mean |h_t − h_{t−1}| (the delta-layer paper's sparsity penalty), then evaluated as
    a delta network for every Θ: accuracy, zero fraction of the hidden deltas, and MACs skipped
    (zero deltas skip their weight column) relative to the dense GRU."""
    print("| training | Θ | seed | test acc | Δh zero fraction | Δx zero fraction | MACs skipped |")
    for seed in args.seeds:
        x, y, xt, yt = load_static("mnist1d", seed)
        xs, xts = x.T.unsqueeze(-1), xt.T.unsqueeze(-1)  # [N, 40] -> [40, N, 1]
        h = args.hidden
        for label, lam in (("dense", 0.0), (f"L1 on Δh, λ={args.l1:g}", args.l1)):
            torch.manual_seed(seed)
            m = RNNNet(nn.GRU(1, h), h, 10)

            def penalty(model: nn.Module, xb: Tensor, lam: float = lam) -> Tensor:
                assert isinstance(model, RNNNet)
                hs = model.hidden(xb)  # [T, B, H]
                return lam * (hs[1:] - hs[:-1]).abs().mean()

            t0 = time.time()
            fit(m, xs, y, epochs=args.epochs, lr=args.lr, loss_fn=nn.functional.cross_entropy, head=last,
                penalty=penalty if lam > 0 else None)
            print(f"<!-- {label}: trained in {time.time() - t0:.0f} s, {n_params(m)} params -->", flush=True)
            with torch.no_grad():
                for theta in args.thetas:
                    hs, dx, dh = delta_gru(m.rnn, xts, theta)
                    acc = (m.out(hs[-1]).argmax(-1) == yt).float().mean().item()
                    macs = (dx != 0).sum() + (dh != 0).sum()  # each nonzero delta costs one 3H column
                    dense = dx.numel() + dh.numel()
                    print(f"| {label} | {theta:g} | {seed} | {acc:.3f} | {(dh == 0).float().mean().item():.3f} | "
                          f"{(dx == 0).float().mean().item():.3f} | {1 - macs.item() / dense:.3f} |", flush=True)


TASKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "cue": task_cue, "adding": task_adding, "lzc": task_lzc, "ultra": task_ultra, "seq": task_seq,
    "delta": task_delta, "l2mu-rates": task_l2mu_rates, "tclif": task_tclif,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=list(TASKS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--delay", type=int, default=50, help="cue: silent delay (steps)")
    ap.add_argument("--steps", type=int, default=50, help="adding: sequence length")
    ap.add_argument("--n-train", type=int, default=1000, help="cue, adding, lzc: training samples")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--T", type=int, nargs="+", default=[1, 4], help="ultra: time steps (static input)")
    ap.add_argument("--data", choices=["digits", "mnist1d"], default="digits", help="ultra, tclif: data set")
    ap.add_argument("--input-gain", type=float, default=5.0, help="lzc: gain on the hidden current (1: old runs)")
    ap.add_argument("--meta-reset", choices=["value", "subtract"], default="value",
                    help="lzc: the meta neuron's reset (its default 'value'; 'subtract' is LIF's)")
    ap.add_argument("--meta-learn", nargs="*", default=None,
                    help="lzc: the meta neuron's learned fields (default: all; none given: learn none)")
    ap.add_argument("--meta-lr", type=float, default=None,
                    help="lzc: Adam learning rate of the meta neuron's intrinsic parameters (default: --lr)")
    ap.add_argument("--no-lzc-readout", action="store_true", help="lzc: skip the (slow) LZC read-outs")
    ap.add_argument("--ultra-gain", type=float, default=1.0, help="ultra: gain on every model's hidden current")
    ap.add_argument("--paper", action="store_true",
                    help="ultra: the UltraLIF code's set-up (standardized inputs, batch 128, one log ε per layer, "
                         "LIF v' = τv + I, best-epoch column)")
    ap.add_argument("--euler-lif", action="store_true", help="ultra --paper: the Euler LIF (input weight dt/τ ≈ 0.1)")
    ap.add_argument("--raw-inputs", action="store_true", help="ultra --paper: features as loaded, not standardized")
    ap.add_argument("--signal", action="store_true", help="lzc: LZC-coded generated signals, not spike trains")
    ap.add_argument("--hidden", type=int, default=32, help="seq, delta: hidden size")
    ap.add_argument("--l2mu-theta", type=float, default=64.0, help="seq: L2MU memory window θ (steps)")
    ap.add_argument("--l2mu-gain", type=float, default=1.0,
                    help="seq, l2mu-rates: L2MU fixed gain g_m on B̄ (ours; default 1 = the paper)")
    ap.add_argument("--l2mu-encoder", type=int, default=4, help="seq: L2MU encoder channels C (memory: 4C neurons)")
    ap.add_argument("--l2mu-transpose-a", action="store_true", help="seq: L2MU applies Āᵀ (the authors' code)")
    ap.add_argument("--l2mu-order", type=int, default=4, help="seq: L2MU Legendre order d (authors: 4 / 7)")
    ap.add_argument("--l2mu-clamp-beta", action="store_true",
                    help="seq: L2MU learns β clamped to [0, 1] (the authors' snnTorch Leaky), not via a sigmoid")
    ap.add_argument("--l2mu-input-gain", type=float, default=1.0, help="seq: scale the pixels fed to L2MU (ours)")
    ap.add_argument("--l2mu-beta", type=float, nargs=4, default=None,
                    help="seq: L2MU initial β of the populations u, m, h, o (default: the layer's)")
    ap.add_argument("--l2mu-vth", type=float, nargs=4, default=None,
                    help="seq: L2MU initial Θ of the populations u, m, h, o (default: the layer's)")
    ap.add_argument("--seq-encoding", choices=["analog", "thermometer", "crossing"], default="analog",
                    help="seq: pixel code fed to every model (see encode_pixels)")
    ap.add_argument("--seq-levels", type=int, default=8, help="seq: levels K of the thermometer/crossing code")
    ap.add_argument("--models", nargs="+", default=None,
                    help="seq, ultra, tclif: run only models whose name starts with these")
    ap.add_argument("--l1", type=float, default=0.1, help="delta: weight of the L1 penalty on Δh")
    ap.add_argument("--thetas", type=float, nargs="+", default=[0.0, 0.01, 0.03, 0.1, 0.3], help="delta: Θ sweep")
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 256, 256], help="tclif: hidden layer widths")
    ap.add_argument("--tc-v-th", type=float, default=1.5,
                    help="tclif: threshold of both neurons (paper's ff PS-MNIST: 1.5)")
    ap.add_argument("--tc-gamma", type=float, default=0.7,
                    help="tclif: TC-LIF dendritic reset γ (paper's ff PS-MNIST: 0.7)")
    ap.add_argument("--sg-width", type=float, default=1.0, help="tclif: triangle surrogate width")
    args = ap.parse_args()
    torch.set_num_threads(1)
    TASKS[args.task](args)


if __name__ == "__main__":
    main()
