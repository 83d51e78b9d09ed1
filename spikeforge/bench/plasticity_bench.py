"""Benchmark section: STDP weight-update rate, spikeforge vs SpikingJelly's STDPLearner on the same layer."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["stdp_section"]


def _median_time(fn: Callable[[], Any], reps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def stdp_section(args: Any, log: Callable[[str], None]) -> dict[str, Any]:
    """Pair STDP on a 700 -> 256 dense layer, batch 64, T = 100 steps of Bernoulli spikes (5 % pre, 10 % post).

    Rows: the rule alone (traces + weight update per step) and the whole learner (synapse + LIF + rule over
    the sequence, update applied at the end), for spikeforge and SpikingJelly with identical definitions
    (Euler traces, tau 2 steps, additive, summed over the batch). Updates/s counts one synapse per step.
    """
    import torch

    from ..neurons import LIF
    from ..plasticity import STDP, PlasticLayer

    T, B, n_in, n_out = 100, 64, 700, 256
    g = torch.Generator().manual_seed(0)
    pre = (torch.rand(T, B, n_in, generator=g) < 0.05).float()
    post = (torch.rand(T, B, n_out, generator=g) < 0.10).float()
    w = torch.rand(n_out, n_in, generator=g) * 0.01
    rule = STDP(dt=1.0, tau_pre=2.0, tau_post=2.0, eta_plus=1.0, eta_minus=1.0, trace_integrator="euler")
    rows: list[tuple[str, str, float, float | None]] = []

    def ours_rule() -> Any:
        s, total = None, torch.zeros_like(w)
        with torch.no_grad():
            for a, b in zip(pre, post):
                dw, s = rule.step(a, b, s, w)
                total += dw
        return total

    layer = PlasticLayer(torch.nn.Linear(n_in, n_out, bias=False), LIF.from_decay(0.5, dt=1.0), rule,
                         update="sequence")

    def ours_layer() -> Any:
        with torch.no_grad():
            layer.synapse.weight.copy_(w)
            return layer(pre)

    reps, warm = max(args.reps, 5), max(args.warmup, 1)
    t_rule = _median_time(ours_rule, reps, warm)
    rows.append(("spikeforge", "rule (`STDP.step`)", t_rule, None))
    rows.append(("spikeforge", "learner (`PlasticLayer`, linear + LIF + rule)", _median_time(ours_layer, reps, warm),
                 None))
    diff = None
    try:
        from spikingjelly.activation_based import neuron as sj_neuron
        from spikingjelly.activation_based.functional import learning as sj_fl
        from spikingjelly.activation_based.learning import STDPLearner

        def sj_rule() -> Any:
            tr = (torch.zeros(B, n_in), torch.zeros(B, n_out))
            total = torch.zeros_like(w)
            with torch.no_grad():
                for a, b in zip(pre, post):
                    dw, tr = sj_fl.stdp_linear_step(a, b, tr, w, tau_pre=2.0, tau_post=2.0,
                                                    f_pre=lambda x: 1.0, f_post=lambda x: 1.0)
                    total += dw
            return total

        diff = float((sj_rule() - ours_rule()).abs().max())
        rows.append(("SpikingJelly", "rule (`functional.learning.stdp_linear_step`)",
                     _median_time(sj_rule, reps, warm), diff))
        syn = torch.nn.Linear(n_in, n_out, bias=False)
        sn = sj_neuron.LIFNode(tau=2.0, step_mode="m")
        learner = STDPLearner("m", syn, sn, tau_pre=2.0, tau_post=2.0, f_pre=lambda x: 1.0, f_post=lambda x: 1.0)
        net = torch.nn.Sequential(syn, sn)

        def sj_learner() -> Any:
            with torch.no_grad():
                syn.weight.copy_(w)
                learner.reset()
                sn.reset()
                net(pre)
                return learner.step(on_grad=False)

        rows.append(("SpikingJelly", "learner (`STDPLearner`, linear + LIFNode, multi-step)",
                     _median_time(sj_learner, reps, warm), None))
    except ImportError as e:  # the peer is a test/bench extra
        log(f"  stdp_update: SpikingJelly unavailable ({e})")
    table = ["| library | what is timed | time per sequence | synaptic updates/s | max abs dw difference |",
             "|---|---|---|---|---|"]
    for lib, what, t, d in rows:
        rate = T * n_in * n_out / t
        table.append(f"| {lib} | {what} | {t * 1e3:.1f} ms | {rate / 1e6:.1f} M | {'' if d is None else f'{d:.1e}'} |")
        log(f"  stdp_update {lib} {what}: {t * 1e3:.1f} ms")
    notes = [f"Dense {n_in} -> {n_out}, batch {B}, T = {T}; pre 5 %, post 10 % Bernoulli spikes; Euler traces, "
             "tau = 2 steps, additive, summed over the batch (identical definitions; the dw column compares them).",
             "spikeforge computes each step's outer products as two matrix products (`post^T @ x`, `y^T @ pre`), "
             "SpikingJelly as broadcast `[B, N_out, N_in]` products summed over the batch. BindsNET needs torch >= "
             "2.14 and cannot share this pinned environment, so it is not in the table."]
    return {"title": "6. STDP weight updates (dense layer)", "notes": notes, "table": table}
