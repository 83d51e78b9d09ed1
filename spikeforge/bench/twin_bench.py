"""Event-driven synapses vs the ReLU twin (issue 17): ``python -m spikeforge.bench --only relu_twin``.

Three rows per network, same weights: the SNN as shipped (synapses dispatched per call by
:mod:`spikeforge.kernels.event_policy`), the same SNN with ``SPIKEFORGE_EVENT_DRIVEN=0`` (dense
synapses) and its ReLU twin (every spiking neuron replaced by ``nn.ReLU``, plain ``nn.Linear``; the
LI readout kept). Then the crossover rates of the event path for the SHD layer shapes.

Times are the median CPU time of the process per step (``time.process_time``, torch on one
thread): on a shared machine wall time mostly measures waiting for a core. The load average is
recorded with every row.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["relu_twin", "relu_twin_section", "measure_crossover"]


def relu_twin(net: nn.Sequential) -> nn.Sequential:
    """A copy of ``net`` with every spiking neuron replaced by ``nn.ReLU`` and every ``EventLinear``
    by a plain ``nn.Linear`` with the same weights (an ANN runs dense synapses); an input
    ``nn.Identity`` becomes a float conversion."""
    from ..layers.sparse_linear import EventLinear
    from ..neurons import LIF
    from .scenarios import ToFloat

    def swap(m: nn.Module) -> nn.Module:
        if type(m) is nn.Identity:  # the SNN reads byte spikes directly; dense layers need floats
            return ToFloat()
        if isinstance(m, LIF):
            return nn.ReLU()
        if isinstance(m, EventLinear):
            lin = nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
            lin.load_state_dict(m.state_dict())
            return lin
        return m

    return nn.Sequential(*(swap(m) for m in net))


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _cpu_median(step: Callable[[], Any], reps: int, warmup: int) -> tuple[float, float]:
    """Median CPU and wall seconds per call of ``step``."""
    for _ in range(warmup):
        step()
    cpu, wall = [], []
    for _ in range(reps):
        c0, w0 = time.process_time(), time.perf_counter()
        step()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def _train_step(net: nn.Module, xs: Tensor, loss: Callable[[Tensor], Tensor]) -> Callable[[], None]:
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss(net(xs)).backward()
        opt.step()

    return step


def _rows(name: str, snn: nn.Sequential, xs: Tensor, loss: Callable[[Tensor], Tensor], args: Any,
          log: Any) -> list[dict[str, Any]]:
    twin = relu_twin(snn)
    out = []
    for label, net, env in ((f"{name} SNN, event-driven synapses (auto)", snn, "1"),
                            (f"{name} SNN, dense synapses (SPIKEFORGE_EVENT_DRIVEN=0)", snn, "0"),
                            (f"{name} ReLU twin (dense nn.Linear/Conv2d)", twin, "1")):
        old = os.environ.get("SPIKEFORGE_EVENT_DRIVEN")
        os.environ["SPIKEFORGE_EVENT_DRIVEN"] = env
        try:
            load0 = _load()
            cpu, wall = _cpu_median(_train_step(net, xs, loss), args.reps, args.warmup)
            out.append({"label": label, "cpu": cpu, "wall": wall, "load": f"{load0} → {_load()}"})
            log(f"  relu_twin {label}: cpu {cpu * 1e3:.1f} ms wall {wall * 1e3:.1f} ms")
        finally:
            if old is None:
                del os.environ["SPIKEFORGE_EVENT_DRIVEN"]
            else:
                os.environ["SPIKEFORGE_EVENT_DRIVEN"] = old
    return out


def measure_crossover(K: int, N: int, rows: int, training: bool, rates: tuple[float, ...], reps: int = 5
                      ) -> tuple[float | None, list[tuple[float, float, float]]]:
    """Rate where the event path's CPU time equals dense torch's for ``rows x K -> N``.

    ``training``: forward + weight gradient (the input gradient is the same dense product on both
    paths and is left out); else forward only. Returns the interpolated crossover (``None`` if not
    reached) and ``(rate, dense s, event s)`` per rate.
    """
    from ..layers.sparse_linear import event_linear, event_linear_grad_weight

    g = torch.Generator().manual_seed(0)
    w = torch.randn(N, K, generator=g) / K ** 0.5
    wt = w.t().contiguous()
    gy = torch.randn(rows, N, generator=g)
    table, prev, cross = [], None, None
    for r in rates:
        x = (torch.rand(rows, K, generator=g) < r).float()  # [rows, K] spikes

        def dense(x: Tensor = x) -> None:
            F.linear(x, w)
            if training:
                gy.t() @ x  # [N, rows] @ [rows, K]

        def event(x: Tensor = x) -> None:
            event_linear(x, wt)
            if training:
                event_linear_grad_weight(x, gy)

        td, te = _cpu_median(dense, reps, 1)[0], _cpu_median(event, reps, 1)[0]
        table.append((r, td, te))
        sp = td / te
        if cross is None and prev is not None and prev[1] >= 1 > sp:
            cross = prev[0] + (1 - prev[1]) * (r - prev[0]) / (sp - prev[1])
        prev = (r, sp)
    return cross, table


def relu_twin_section(args: Any, log: Any) -> dict[str, Any]:
    from .scenarios import conv_net, shd_input, shd_net

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        xs, ys = shd_input(100, 64)
        shd = _rows("SHD 700-256-256-20, T=100, B=64:", shd_net("spikeforge"), xs,
                    lambda v: F.cross_entropy(v.mean(0), ys), args, log)
        with torch.no_grad():
            net = shd_net("spikeforge")
            h1 = net[2](net[1](xs))
            h2 = net[4](net[3](h1))
        g = torch.Generator().manual_seed(0)
        cx = (torch.rand(10, 32, 2, 34, 34, generator=g) < 0.15).float() * 2.0
        cy = torch.randint(0, 10, (32,), generator=g)
        conv = _rows("Conv 2-16-32 + Linear 2048-10, T=10, B=32:", conv_net("spikeforge"), cx,
                     lambda v: F.cross_entropy(v.mean(0) * 5, cy), args, log)
        rates = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
        cross = []
        for K, N in ((700, 256), (256, 256)):
            for training in (True, False):
                c, tab = measure_crossover(K, N, 6400, training, rates, reps=max(3, args.reps // 2))
                cross.append((K, N, training, c, tab, _load()))
                log(f"  crossover {K}->{N} {'train' if training else 'infer'}: {c}")
    finally:
        torch.set_num_threads(threads)
    table = ["| step | CPU time (median) | wall (median) | × vs ReLU twin (CPU) "
             "| load avg (1, 5, 15 min) start → end |",
             "|---|---|---|---|---|"]
    for rows in (shd, conv):
        twin = rows[-1]["cpu"]
        for r in rows:
            table.append(f"| {r['label']} | {r['cpu'] * 1e3:.1f} ms | {r['wall'] * 1e3:.1f} ms | "
                         f"{twin / r['cpu']:.2f}× | {r['load']} |")
    table += ["", "| synapse (6400 rows) | mode | crossover rate | dense / event CPU time at 2, 5, 10, 20 % | load |",
              "|---|---|---|---|---|"]
    for K, N, training, c, tab, load in cross:
        pick = " ".join(f"{td * 1e3:.1f}/{te * 1e3:.1f}" for r, td, te in tab if r in (0.02, 0.05, 0.1, 0.2))
        table.append(f"| {K} → {N} | {'forward + weight gradient' if training else 'forward'} | "
                     f"{'≈ %.0f %%' % (c * 100) if c is not None else 'not reached'} | {pick} ms | {load} |")
    notes = [f"Firing rates of the SHD hidden layers on this input: {float(h1.mean()):.1%}, {float(h2.mean()):.1%} "
             "(input 5 %). The conv net's spiking synapses see 2-channel event frames (×2, not 0/1) and "
             "average-pooled spikes (not 0/1), so the policy keeps them dense: the conv rows compare the "
             "neurons and layout only.",
             "Times are the process's CPU time per training step (forward, backward, Adam) with torch on one "
             "thread, the median of the timed reps; the machine is shared and was under load (column), "
             "which inflates every number but less so the ratios."]
    return {"title": "9. Event-driven synapses vs the ReLU twin (issue 17)", "notes": notes, "table": table}
