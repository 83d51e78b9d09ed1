"""``python -m spikeforge.bench``: run the issue-3 benchmark table and write BENCHMARKS.md."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "add_arguments", "run"]

SECTIONS = ("lif_layer", "shd_step", "conv_step", "memory_lean", "event_linear", "stdp_update", "dcls_step",
            "relu_twin", "lif_floor")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", nargs="*", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    p.add_argument("--reps", type=int, default=7, help="timed repetitions per case (>= 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps per case")
    p.add_argument("--out", default="BENCHMARKS.md", help="markdown file to write")
    p.add_argument("--json", default=None, help="also write the raw results as JSON")
    p.add_argument("--no-jax", action="store_true", help="skip the JAX peers (.venv-jax) in the LIF section")


def _kernel_first_call() -> str:
    code = ("import json,sys; from pathlib import Path; from spikeforge.kernels._build import load_library, build_info;"
            "load_library(Path(sys.argv[1])); print(json.dumps(build_info()))")
    with tempfile.TemporaryDirectory() as d:
        try:
            cold = json.loads(subprocess.run([sys.executable, "-c", code, d], capture_output=True, text=True,
                                             check=True).stdout.strip().splitlines()[-1])
            warm = json.loads(subprocess.run([sys.executable, "-c", code, d], capture_output=True, text=True,
                                             check=True).stdout.strip().splitlines()[-1])
        except (subprocess.CalledProcessError, IndexError, json.JSONDecodeError):
            return "unavailable (no compiler?)"
    return (f"{cold['seconds']:.1f} s to compile ({Path(str(cold['compiler'])).name}, once per machine, cached in "
            f"~/.cache/spikeforge/kernels), {warm['seconds'] * 1e3:.0f} ms to load from the cache")


def _scenario_cases(name: str, reps: int, warmup: int, log: Any) -> list[dict[str, Any]]:
    from .harness import check_spikes, run_case
    from .peers import installed
    from .scenarios import SCENARIOS
    scen = SCENARIOS.get(name)
    cases = []
    for cfg in scen.configs:
        libs = tuple(lib for lib in scen.libs if installed(lib))
        checks = check_spikes(name, cfg, libs) if len(libs) > 1 else {lib: {"equal": True} for lib in libs}
        rows = []
        for lib in libs:
            row: dict[str, Any] = {"lib": lib, "check": checks[lib]}
            if checks[lib].get("equal"):
                log(f"  {name} {cfg} {lib} ...")
                row.update(run_case(name, lib, cfg, reps=reps, warmup=warmup))
                if "median" in row:
                    log(f"    median {row['median']:.4f} s, peak RSS {row['rss_peak_kb'] / 1024:.0f} MB")
                else:
                    log(f"    error: {row.get('error')}")
            rows.append(row)
        label = ", ".join(f"{k}={v}" for k, v in cfg.items())
        cases.append({"label": label, "config": cfg, "rows": rows})
    return cases


_HOW = {
    "shd_step": ("How each library is written: spikeforge takes the spike inputs of its three linear layers "
                 "through `EventLinear` (event-driven below its crossover rate, dense above; the byte-stored "
                 "input spikes are read directly, without a float copy) and fused LIF/LI kernels; "
                 "spikeforge-torch and the peers convert the input to float and use `nn.Linear` and their "
                 "own neurons."),
    "conv_step": ("How each library is written: spikeforge folds time with its `TimeDistributed` in channels-last "
                  "layout (oneDNN's 2-channel convolution is several times faster there) with the fused pooling "
                  "kernel and LIF kernels running on that layout in place; spikeforge-nchw is the same in the "
                  "default layout; spikeforge-torch and the peers fold time around the plain torch modules in "
                  "the default layout."),
}


def _timed_peers(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The case's peer rows (torch and JAX peers) that have a median time."""
    from .peers import JAX_PEERS, PEERS
    return [r for r in case["rows"] if (r["lib"] in PEERS or r["lib"] in JAX_PEERS) and "median" in r]


def _ratio_note(case: dict[str, Any]) -> tuple[float | None, str]:
    ours = next((r for r in case["rows"] if r["lib"] == "spikeforge" and "median" in r), None)
    peers = _timed_peers(case)
    if not ours or not peers:
        return None, "ratio: n/a"
    best = min(peers, key=lambda r: r["median"])
    low = min(peers, key=lambda r: r["rss_peak_kb"])
    sp = best["median"] / ours["median"]
    return sp, (f"**spikeforge is {sp:.2f}× faster than the fastest peer ({best['lib']})**; peak RSS "
                f"{ours['rss_peak_kb'] / low['rss_peak_kb']:.2f}× the lowest peer's ({low['lib']}).")


def _attainable_note(case: dict[str, Any], floor: float) -> str:
    """What the floor allows against the fastest peer: a step cannot beat the memory traffic it must move,
    so ``fastest peer / floor`` bounds the speed-up any kernel could show on this machine at this size."""
    peers = _timed_peers(case)
    if not peers:
        return ""
    best = min(peers, key=lambda r: r["median"])
    bound = best["median"] / floor
    verdict = "reachable" if bound >= 5 else "out of reach on this machine"
    return (f" A step at the floor would be {bound:.2f}× faster than the fastest peer ({best['lib']}), so the "
            f"≥ 5× target is {verdict} at this size unless the step moves fewer bytes.")


def _lif_section(args: argparse.Namespace, env: dict[str, Any], log: Any) -> dict[str, Any]:
    from .jax_bridge import jax_rows
    from .scenarios import lif_input
    cases = _scenario_cases("lif_layer", args.reps, args.warmup, log)
    for case in cases:
        T, B, N = case["config"]["shape"]
        if not args.no_jax:  # the JAX peers on the same input, from their own environment (issue 17)
            case["rows"] += jax_rows(lif_input(T, B, N), reps=args.reps, warmup=args.warmup, log=log)
        # Bytes the timed step must move per element: forward reads x and writes the spikes, the
        # loss reads the spikes, backward re-reads x and writes grad x (the loss's gradient is a
        # broadcast scalar). The fused kernels alone account for 16 of the 20.
        n = T * B * N
        floor, floor_k = 20 * n / env["bw"]["prealloc"], 16 * n / env["bw"]["prealloc"]
        _, note = _ratio_note(case)
        ours = next((r for r in case["rows"] if r["lib"] == "spikeforge" and "median" in r), None)
        fl = (f"Memory-traffic floor of the timed step: {20 * n / 1e6:.0f} MB (20 B per element: x read and "
              f"spikes written forward, spikes read by the loss, x re-read and grad written backward) ÷ "
              f"{env['bw']['prealloc'] / 1e9:.1f} GB/s copy bandwidth = {floor * 1e3:.1f} ms")
        if ours:
            fl += (f"; spikeforge = **{ours['median'] / floor:.2f}× the floor**. Without the loss's read "
                   f"(16 B per element, the kernels' own traffic): {floor_k * 1e3:.1f} ms, "
                   f"spikeforge = {ours['median'] / floor_k:.2f}× of it.")
        fl += _attainable_note(case, floor)
        case["notes"] = [note, fl]
    return {"title": "1. LIF layer alone (forward + backward, loss = spikes.sum())", "cases": cases}


def _memory_section(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    import torch.nn.functional as F

    from ..runtime import checkpoint_through_time
    from .scenarios import shd_input, shd_net
    # exactness: checkpointed gradients vs plain BPTT
    net = shd_net("spikeforge")
    xs, ys = shd_input(200, 8)
    F.cross_entropy(net(xs).mean(0), ys).backward()
    g_ref = [p.grad.clone() for p in net.parameters() if p.grad is not None]
    net.zero_grad()
    F.cross_entropy(checkpoint_through_time(net, xs, chunk=50).mean(0), ys).backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    err = max(float((g1 - g).abs().max() / g.abs().max().clamp_min(1e-30)) for g1, g in zip(grads, g_ref))
    cases = _scenario_cases("memory_lean", max(3, args.reps // 2), 1, log)
    rows = {(c["config"]["mode"], c["config"]["T"]): c["rows"][0] for c in cases}
    notes = [f"Gradient check (T=200, B=8): checkpointed vs plain BPTT, max relative difference {err:.1e}."]
    table = ["| mode | T=100 peak RSS | T=1000 peak RSS | ratio | T=100 above start | T=1000 above start | ratio "
             "| step T=100 | step T=1000 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for mode in ("bptt", "checkpoint"):
        a, b = rows.get((mode, 100), {}), rows.get((mode, 1000), {})
        if "median" not in a or "median" not in b:
            table.append(f"| {mode} | {a.get('error', '')} | {b.get('error', '')} | | | | | | |")
            continue
        da, db = a["rss_peak_kb"] - a["rss_base_kb"], b["rss_peak_kb"] - b["rss_base_kb"]
        table.append(f"| {mode} | {a['rss_peak_kb'] / 1024:.0f} MB | {b['rss_peak_kb'] / 1024:.0f} MB | "
                     f"**{b['rss_peak_kb'] / a['rss_peak_kb']:.2f}×** | {da / 1024:.0f} MB | {db / 1024:.0f} MB | "
                     f"{db / max(da, 1):.2f}× | {a['median']:.3f} s | {b['median']:.3f} s |")
    notes.append("Input spikes are stored as bytes (`[T, 64, 700]` uint8: 4.5 MB at T=100, 45 MB at T=1000) and "
                 "read directly by the event-driven first layer (no float copy). \"Above start\" excludes the "
                 "interpreter, torch and the input.")
    return {"title": "4. Memory that does not grow with T (SHD net, checkpointing through time, chunk = 50)",
            "notes": notes, "table": table}


def _event_section(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    import statistics

    import torch
    import torch.nn.functional as F

    from ..layers.sparse_linear import event_linear
    torch.manual_seed(0)
    w = torch.randn(256, 700) / 700 ** 0.5
    b = torch.randn(256) * 0.1
    wt = w.t().contiguous()
    rows, crossover = [], None
    table = ["| firing rate | dense `F.linear` | event-driven | speed-up | max abs difference |",
             "|---|---|---|---|---|"]
    prev = None
    for rate in (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5):
        x = (torch.rand(100, 64, 700) < rate).float()  # [T=100, B=64, 700] spikes
        td, te = [], []
        with torch.no_grad():
            for _ in range(max(args.reps, 7) + 2):
                t0 = time.perf_counter()
                yd = F.linear(x, w, b)
                td.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                ye = event_linear(x, wt, b)
                te.append(time.perf_counter() - t0)
        md, me = statistics.median(td[2:]), statistics.median(te[2:])
        sp = md / me
        diff = float((yd - ye).abs().max())
        rows.append({"rate": rate, "dense": md, "event": me, "speedup": sp, "diff": diff})
        table.append(f"| {rate:.0%} | {md * 1e3:.2f} ms | {me * 1e3:.2f} ms | {sp:.2f}× | {diff:.1e} |")
        if crossover is None and prev is not None and prev[1] >= 1 > sp:
            r0, s0 = prev
            crossover = r0 + (1 - s0) * (rate - r0) / (sp - s0)  # linear interpolation of speed-up = 1
        prev = (rate, sp)
        log(f"  event_linear rate {rate}: dense {md * 1e3:.2f} ms event {me * 1e3:.2f} ms")
    notes = ["Inference, `[T=100, B=64, 700]` Bernoulli spike input -> 256 outputs. Results equal the dense "
             "layer up to float summation order (column below).",
             f"**Crossover (speed-up = 1): {'≈ %.0f %%' % (crossover * 100) if crossover else 'not reached'}**; "
             "`EventLinear(mode='auto')` takes the event path only below its `crossover` rate."]
    return {"title": "5. Event-driven sparse-input linear layer vs dense matmul", "notes": notes, "table": table,
            "rows": rows, "crossover": crossover}


def _dcls_section(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    from .peers import version

    cases = _scenario_cases("dcls_step", args.reps, args.warmup, log)
    for c in cases:
        rows = {r["lib"]: r for r in c["rows"] if "median" in r}
        c["notes"] = []
        if "spikeforge" in rows and "dcls" in rows:
            ours, peer = rows["spikeforge"], rows["dcls"]
            c["notes"].append(
                f"**spikeforge's DelayLinear step is {peer['median'] / ours['median']:.2f}× as fast as dcls's "
                f"Dcls1d** (dcls {version('dcls')}); peak RSS {ours['rss_peak_kb'] / peer['rss_peak_kb']:.2f}× "
                f"dcls's, memory above start {(ours['rss_peak_kb'] - ours['rss_base_kb']) / 1024:.0f} MB vs "
                f"{(peer['rss_peak_kb'] - peer['rss_base_kb']) / 1024:.0f} MB.")
        c["notes"].append(
            "Same network in both rows (`spikeforge.bench.scenarios.dcls_net`): identical weights, positions and "
            "SIG, spikeforge's BatchNorm, LIF (β = 1 − 10/10.05, hard reset) and readout; only the three delay "
            "layers differ. Input `[T, B, 140]` Bernoulli(0.1) spikes; step = forward, CE on Σ_t softmax, "
            "backward, Adam, position clamp. Before timing, the hidden spikes must be identical and the readout "
            "equal to float32 tolerance (rtol = atol = 1e-4).")
    return {"title": "7. Learned delays: SHD DCLS training step, DelayLinear vs the dcls package's Dcls1d",
            "cases": cases}


def _floor_section(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    from .floor import FLOOR_TARGET, floor_table, run_floor_case
    from .scenarios import LIF_SHAPES
    rows = []
    for shape in LIF_SHAPES:
        log(f"  lif_floor {shape} ...")
        rows.append(run_floor_case(shape, reps=max(args.reps, 9), warmup=args.warmup))
    notes = ["The LIF step of section 1 (forward + backward, loss = spikes.sum()) against a copy of its input, "
             "both timed interleaved in one fresh process per size. Floor = bytes the step must move (20 B "
             "per element: x read and spikes written forward, spikes read by the loss, x re-read and grad x "
             "written backward) ÷ the copy bandwidth of that process at that size (`dst.copy_(x)`, 8 B per "
             f"element), i.e. 2.5 copy times. Target (issue 17): ≤ {FLOOR_TARGET}× at every size. Definition "
             "in `spikeforge/bench/floor.py`."]
    return {"title": "10. LIF layer vs the memory-traffic floor (same-process copy bandwidth)", "notes": notes,
            "table": floor_table(rows), "rows": rows}


def run(args: argparse.Namespace) -> int:
    import torch

    from .harness import copy_bandwidth
    from .report import machine_env, to_markdown

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.reps < 5:
        log("warning: fewer than 5 repetitions per case; issue 3 asks for >= 5")
    env = machine_env()
    log("measuring copy bandwidth and kernel first-call cost ...")
    env["bw"] = copy_bandwidth()
    env["kernel_first_call"] = _kernel_first_call()
    if "lif_layer" in args.only:
        from .jax_bridge import jax_python
        py = None if args.no_jax else jax_python()
        env["jax"] = (f"`{py}` (subprocess per case; jax_peers.py)" if py else
                      "skipped (--no-jax)" if args.no_jax else
                      "not run: no .venv-jax (`make jax-peers` builds it; `make bench` tries to)")
    sections = []
    if "lif_layer" in args.only:
        sections.append(_lif_section(args, env, log))
    for name, title in (("shd_step", "2. SHD-shaped training step"), ("conv_step", "3. Conv SNN training step")):
        if name in args.only:
            cases = _scenario_cases(name, args.reps, args.warmup, log)
            for c in cases:
                c["notes"] = [_ratio_note(c)[1], _HOW[name]]
            sections.append({"title": title, "cases": cases})
    if "memory_lean" in args.only:
        sections.append(_memory_section(args, log))
    if "event_linear" in args.only:
        sections.append(_event_section(args, log))
    if "stdp_update" in args.only:
        from .plasticity_bench import stdp_section

        sections.append(stdp_section(args, log))
    if "dcls_step" in args.only:
        sections.append(_dcls_section(args, log))
    if "relu_twin" in args.only:
        from .twin_bench import relu_twin_section

        sections.append(relu_twin_section(args, log))
    if "lif_floor" in args.only:
        sections.append(_floor_section(args, log))
    env["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cmd = "python -m spikeforge.bench " + " ".join(sys.argv[1:]) if sys.argv[1:] else "python -m spikeforge.bench"
    results = {"env": env, "sections": sections, "command": cmd.strip(),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    Path(args.out).write_text(to_markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    log(f"wrote {args.out}")
    del torch
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m spikeforge.bench", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
