"""Event-driven synapses vs the ReLU twin (issue 17): ``python -m spikeforge.bench --only relu_twin``.

Three steps per network, same initial weights, each with its own copy of the network and its own
Adam: the SNN as shipped (synapses dispatched per call by :mod:`spikeforge.kernels.event_policy`),
the same SNN with ``SPIKEFORGE_EVENT_DRIVEN=0`` (dense synapses) and its ReLU twin (every spiking
neuron replaced by ``nn.ReLU``, plain ``nn.Linear``; the LI readout kept; a plain ``nn.Sequential``).
The conv net adds a fourth: the same SNN modules in a plain ``nn.Sequential``, which runs each LIF and
the average pooling after it separately instead of as one fused kernel (``SpikingSequential``,
:mod:`spikeforge.kernels.lif_pool`). Then the crossover rates of the event path for the SHD layer shapes.

Interleaved (ABC ABC ...): within every rep each step runs once, in an order rotated from rep to
rep, so all of them see the same load; the ratio ``twin / SNN`` is taken per rep from the two
adjacent measurements and reported as the median with its min-max over the reps. Times are CPU
time of the process (``time.process_time``, torch on one thread): on a shared machine wall time
mostly measures waiting for a core. Load average and the machine's steal time are recorded per row.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .harness import contention, cpu_times

__all__ = ["interleaved", "measure_crossover", "ratio_stats", "relu_twin", "relu_twin_section"]


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


def _steal_since(start: tuple[int, int] | None) -> str:
    """Stolen share of CPU time since ``start`` (a :func:`harness.cpu_times` reading), or n/a."""
    steal = contention(0.0, 0.0, start, cpu_times())["steal"]
    return "n/a" if steal is None else f"{100 * steal:.1f} %"


def interleaved(steps: dict[str, Callable[[], Any]], reps: int, warmup: int) -> dict[str, list[float]]:
    """CPU seconds of every call of every step, run in turn: in rep ``i`` the steps run once each,
    starting at the ``i``-th (rotated order), after ``warmup`` untimed rounds. Returns the per-rep
    times of each step, so ``out[a][i]`` and ``out[b][i]`` were taken next to each other."""
    if reps < 1 or warmup < 0:
        raise ValueError(f"interleaved: need reps >= 1 and warmup >= 0, got reps={reps}, warmup={warmup}")
    names = list(steps)
    for _ in range(warmup):
        for n in names:
            steps[n]()
    out: dict[str, list[float]] = {n: [] for n in names}
    for i in range(reps):
        for j in range(len(names)):
            n = names[(i + j) % len(names)]
            c0 = time.process_time()
            steps[n]()
            out[n].append(time.process_time() - c0)
    return out


def ratio_stats(num: list[float], den: list[float]) -> tuple[float, float, float]:
    """Median, min and max over reps of ``num[i] / den[i]`` (paired per rep)."""
    if len(num) != len(den) or not num:
        raise ValueError(f"ratio_stats: need two equally long non-empty lists, got {len(num)} and {len(den)}")
    r = [a / b for a, b in zip(num, den)]
    return statistics.median(r), min(r), max(r)


@contextmanager
def _event_env(value: str | None) -> Iterator[None]:
    old = os.environ.get("SPIKEFORGE_EVENT_DRIVEN")
    if value is not None:
        os.environ["SPIKEFORGE_EVENT_DRIVEN"] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SPIKEFORGE_EVENT_DRIVEN", None)
        else:
            os.environ["SPIKEFORGE_EVENT_DRIVEN"] = old


def _train_step(net: nn.Module, xs: Tensor, loss: Callable[[Tensor], Tensor], env: str | None = None
                ) -> Callable[[], None]:
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> None:
        with _event_env(env):
            opt.zero_grad(set_to_none=True)
            loss(net(xs)).backward()
            opt.step()

    return step


def _rows(name: str, make: Callable[[], nn.Sequential], xs: Tensor, loss: Callable[[Tensor], Tensor], args: Any,
          log: Any, extra: Mapping[str, Callable[[], nn.Module]] | None = None
          ) -> tuple[list[dict[str, Any]], nn.Sequential]:
    """Interleaved rows of one network (plus ``extra`` variants of it, label -> maker, timed between the
    SNN rows and the twin); returns them and the event-driven SNN after its steps."""
    snn = make()
    steps = {f"{name} SNN, event-driven synapses (auto)": _train_step(snn, xs, loss),
             f"{name} SNN, dense synapses (SPIKEFORGE_EVENT_DRIVEN=0)": _train_step(make(), xs, loss, "0")}
    for label, maker in (extra or {}).items():
        steps[f"{name} {label}"] = _train_step(maker(), xs, loss)
    steps[f"{name} ReLU twin (dense nn.Linear/Conv2d)"] = _train_step(relu_twin(make()), xs, loss)
    load0, j0 = _load(), cpu_times()
    times = interleaved(steps, args.reps, args.warmup)
    load, steal = f"{load0} → {_load()}", _steal_since(j0)
    twin = list(times.values())[-1]
    out = []
    for label, t in times.items():
        med, lo, hi = ratio_stats(twin, t)
        out.append({"label": label, "cpu": statistics.median(t), "min": min(t), "max": max(t),
                    "ratio": (med, lo, hi), "load": load, "steal": steal})
        log(f"  relu_twin {label}: cpu {statistics.median(t) * 1e3:.1f} ms, twin/this {med:.2f}× "
            f"({lo:.2f}-{hi:.2f}), load {load}, steal {steal}")
    return out, snn


def _spiking_report(net: nn.Sequential, xs: Tensor, what: str) -> str:
    """Firing rates of the input and of every LIF output of ``net`` on ``xs``, and which synapses
    took the event path in training."""
    from ..layers.sparse_linear import EventLinear
    from ..neurons import LIF

    parts, h = [f"input {float(xs.float().mean()):.1%}"], xs
    with torch.no_grad():
        for i, m in enumerate(net):
            if isinstance(m, EventLinear):
                parts.append(f"layer {i} ({m.in_features}→{m.out_features}) "
                             f"{'event' if m.uses_event_path(h, training=True) else 'dense'}")
            h = m(h)
            if isinstance(m, LIF):
                parts.append(f"LIF {i} fires {float(h.mean()):.1%}")
    return f"{what}: " + ", ".join(parts) + "."


def measure_crossover(K: int, N: int, rows: int, training: bool, rates: tuple[float, ...], reps: int = 5
                      ) -> tuple[float | None, list[tuple[float, float, float]]]:
    """Rate where the event path's CPU time equals dense torch's for ``rows x K -> N``.

    ``training``: forward + weight gradient (the input gradient is the same dense product on both
    paths and is left out); else forward only. Dense and event calls are interleaved per rep.
    Returns the interpolated crossover (``None`` if not reached) and ``(rate, dense s, event s)``
    (medians) per rate.
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

        t = interleaved({"dense": dense, "event": event}, reps, 1)
        td, te = statistics.median(t["dense"]), statistics.median(t["event"])
        table.append((r, td, te))
        sp = ratio_stats(t["dense"], t["event"])[0]
        if cross is None and prev is not None and prev[1] >= 1 > sp:
            cross = prev[0] + (1 - prev[1]) * (r - prev[0]) / (sp - prev[1])
        prev = (r, sp)
    return cross, table


def _shd_maker(gain: float) -> Callable[[], nn.Sequential]:
    from .scenarios import shd_net

    def make() -> nn.Sequential:
        net = shd_net("spikeforge")
        with torch.no_grad():  # extra gain on the hidden synapses: higher firing rates
            for i in (1, 3):
                layer: Any = net[i]
                layer.weight.mul_(gain)
        return net

    return make


def relu_twin_section(args: Any, log: Any) -> dict[str, Any]:
    from .scenarios import conv_net, shd_input

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    sparsity = []
    try:
        xs, ys = shd_input(100, 64)
        shd_loss: Callable[[Tensor], Tensor] = lambda v: F.cross_entropy(v.mean(0), ys)  # noqa: E731
        shd, net = _rows("SHD 700-256-256-20, T=100, B=64:", _shd_maker(1.0), xs, shd_loss, args, log)
        sparsity.append(_spiking_report(net, xs, "SHD net as benchmarked (hidden gain 3), after its timed steps"))
        shd_hi, net = _rows("SHD, hidden gain 4.5 (higher rates):", _shd_maker(1.5), xs, shd_loss, args, log)
        sparsity.append(_spiking_report(net, xs, "SHD net with hidden gain 4.5, after its timed steps"))
        g = torch.Generator().manual_seed(0)
        cx = (torch.rand(10, 32, 2, 34, 34, generator=g) < 0.15).float() * 2.0
        cy = torch.randint(0, 10, (32,), generator=g)
        unfused = {"SNN, layer by layer (the same modules in a plain nn.Sequential: LIF and pooling not fused)":
                   lambda: nn.Sequential(*conv_net("spikeforge"))}
        conv, _ = _rows("Conv 2-16-32 + Linear 2048-10, T=10, B=32:", lambda: conv_net("spikeforge"), cx,
                        lambda v: F.cross_entropy(v.mean(0) * 5, cy), args, log, unfused)
        rates = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
        cross = []
        for K, N in ((700, 256), (256, 256)):
            for training in (True, False):
                load0 = _load()
                c, tab = measure_crossover(K, N, 6400, training, rates, reps=max(3, args.reps // 2))
                cross.append((K, N, training, c, tab, f"{load0} → {_load()}"))
                log(f"  crossover {K}->{N} {'train' if training else 'infer'}: {c}")
    finally:
        torch.set_num_threads(threads)
    table = ["| step | CPU time, median (min-max) | × vs ReLU twin, median of per-rep ratios (min-max) "
             "| load avg (1, 5, 15 min) start → end | steal |",
             "|---|---|---|---|---|"]
    for rows in (shd, shd_hi, conv):
        for r in rows:
            med, lo, hi = r["ratio"]
            table.append(f"| {r['label']} | {r['cpu'] * 1e3:.1f} ms ({r['min'] * 1e3:.1f}-{r['max'] * 1e3:.1f}) | "
                         f"{med:.2f}× ({lo:.2f}-{hi:.2f}) | {r['load']} | {r['steal']} |")
    table += ["", "| synapse (6400 rows) | mode | crossover rate | dense / event CPU time at 2, 5, 10, 20 % "
              "| load start → end |", "|---|---|---|---|---|"]
    for K, N, training, c, tab, load in cross:
        pick = " ".join(f"{td * 1e3:.1f}/{te * 1e3:.1f}" for r, td, te in tab if r in (0.02, 0.05, 0.1, 0.2))
        table.append(f"| {K} → {N} | {'forward + weight gradient' if training else 'forward'} | "
                     f"{'≈ %.0f %%' % (c * 100) if c is not None else 'not reached'} | {pick} ms | {load} |")
    notes = sparsity + [
        "The conv net's spiking synapses see 2-channel event frames (×2, not 0/1) and average-pooled spikes "
        "(not 0/1), so the policy keeps them dense: the conv rows compare the neurons, the layout and the "
        "fused LIF + average pooling of SpikingSequential (spikeforge.kernels.lif_pool; the layer-by-layer "
        "row runs the same modules unfused).",
        f"Times are the process's CPU time per training step (forward, backward, Adam) with torch on one thread; "
        f"the steps of a network run interleaved ({args.reps} reps after {args.warmup} warm-up rounds, "
        "order rotated per rep), each on its own copy of the network, and the ratio is taken per rep. "
        "The machine is shared: load and steal columns."]
    return {"title": "9. Event-driven synapses vs the ReLU twin (issue 17)", "notes": notes, "table": table}
