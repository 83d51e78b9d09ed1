"""The bench LIF step with the Python glue of an older commit against the working tree's, in one process (issue 17).

The step is the bench's (``spikeforge.bench.scenarios._build_lif``): ``x = xs.detach().requires_grad_();
layer(x).sum().backward()`` with spikeforge's LIF on the ``cpp`` backend. The old glue is the given
revision's ``kernels/cpu.py``, ``kernels/specs.py``, ``Neuron._params_for`` / ``Neuron.stored_params`` /
``Neuron.prepare_run`` (``neurons/_base.py``) and ``neurons/lif.py::_rest``, loaded from
``git show REV:path`` next to the current modules; the kernel library is the same. Each
round times ``--steps`` steps of one path, then of the other, in a random order; the result is the
median over rounds of the ratio new / old of the round's two times, with the 10th-90th percentiles.

    python tools/lif_glue_ab.py --old HEAD --rounds 60 10,8,128 100,32,512 100,128,2048
    python tools/lif_glue_ab.py --old HEAD --rounds 60 --threads 1 --cpu 10,8,128 100,32,512 100,128,2048
    python tools/lif_glue_ab.py --old HEAD --rounds 40 --mode fwd 1,1,8 10,8,128 100,32,512
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import random
import statistics
import subprocess
import sys
import time
from types import ModuleType
from typing import Any

import torch

import spikeforge.kernels as kernels
from spikeforge.bench.peers import lif_layer
from spikeforge.bench.scenarios import lif_input
from spikeforge.kernels import cpu, specs
from spikeforge.neurons import lif
from spikeforge.neurons._base import Neuron


def _show(rev: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{rev}:{path}"], check=True, capture_output=True, text=True).stdout


def _old_function(rev: str, path: str, name: str) -> Any:
    """Top-level function ``name`` of ``path`` at ``rev``, run with the live module's globals."""
    tree = ast.parse(_show(rev, path))
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    live = sys.modules["spikeforge." + path.removeprefix("spikeforge/").removesuffix(".py").replace("/", ".")]
    scope = dict(vars(live))
    exec(compile(ast.Module(body=[node], type_ignores=[]), f"{rev}:{path}", "exec"), scope)
    return scope[name]


def _load_old(rev: str, path: str, name: str) -> ModuleType:
    """Module ``name`` (inside the live package, so relative imports resolve) from ``path`` at ``rev``."""
    src = _show(rev, path)
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = name.rpartition(".")[0]
    sys.modules[name] = mod
    exec(compile(src, f"{rev}:{path}", "exec"), mod.__dict__)
    return mod


def paths(rev: str) -> dict[str, dict[str, Any]]:
    """The attributes to set for the ``old`` and ``new`` glue."""
    old_specs = _load_old(rev, "spikeforge/kernels/specs.py", "spikeforge.kernels._ab_old_specs")
    old_cpu = _load_old(rev, "spikeforge/kernels/cpu.py", "spikeforge.kernels._ab_old_cpu")
    old_cpu.reset_code = old_specs.reset_code  # type: ignore[attr-defined]
    old_base = _load_old(rev, "spikeforge/neurons/_base.py", "spikeforge.neurons._ab_old_base")
    return {
        "old": {"run_cpp": old_cpu.run_cpp, "supports": old_cpu.supports, "spec_for": old_specs.spec_for,
                "_params_for": old_base.Neuron._params_for, "stored_params": old_base.Neuron.stored_params,
                "prepare_run": old_base.Neuron.prepare_run,
                "_rest": _old_function(rev, "spikeforge/neurons/lif.py", "_rest")},
        "new": {"run_cpp": cpu.run_cpp, "supports": cpu.supports, "spec_for": specs.spec_for,
                "_params_for": Neuron._params_for, "stored_params": Neuron.stored_params,
                "prepare_run": Neuron.prepare_run, "_rest": lif._rest},
    }


def use(attrs: dict[str, Any]) -> None:
    for name in ("run_cpp", "supports", "spec_for"):
        setattr(kernels, name, attrs[name])  # the globals run_fused calls
    Neuron._params_for = attrs["_params_for"]  # type: ignore[method-assign]
    Neuron.stored_params = attrs["stored_params"]  # type: ignore[method-assign]
    Neuron.prepare_run = attrs["prepare_run"]  # type: ignore[method-assign]
    lif._rest = attrs["_rest"]  # the global LIF.init_state calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shapes", nargs="+", help="T,B,N")
    ap.add_argument("--old", default="HEAD", help="git revision of the old glue")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--steps", type=int, default=0, help="steps per path per round (0: about 20 ms worth)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=("step", "fwd", "nograd"), default="step",
                    help="time the forward+backward step (default), the forward alone, or the forward under no_grad")
    ap.add_argument("--cpu", action="store_true", help="thread CPU time instead of wall time (with --threads 1 "
                    "the kernels run on the calling thread, so this is the whole step's CPU time)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.thread_time if args.cpu else time.perf_counter
    both = paths(args.old)
    rng = random.Random(0)
    for text in args.shapes:
        T, B, N = (int(v) for v in text.split(","))
        layer, xs = lif_layer("spikeforge"), lif_input(T, B, N)  # xs: [T, B, N]

        def run(attrs: dict[str, Any], n: int, layer: Any = layer, xs: torch.Tensor = xs) -> float:
            use(attrs)
            t0 = clock()
            if args.mode == "nograd":
                with torch.no_grad():
                    for _ in range(n):
                        layer(xs)
            for _ in range(n if args.mode != "nograd" else 0):
                x = xs.detach().requires_grad_()
                z = layer(x)
                if args.mode == "step":
                    z.sum().backward()
            return clock() - t0

        grads = {}
        for key in ("old", "new"):  # the two paths agree before timing
            use(both[key])
            x = xs.detach().requires_grad_()
            z = layer(x)
            z.sum().backward()
            assert x.grad is not None
            grads[key] = (z.detach(), x.grad)
        assert torch.equal(grads["old"][0], grads["new"][0]) and torch.equal(grads["old"][1], grads["new"][1])
        per = run(both["new"], 3) / 3
        steps = args.steps or max(1, int(0.02 / per))
        ratios, t_old, t_new = [], [], []
        for _ in range(args.rounds):
            order = ["old", "new"]
            rng.shuffle(order)
            t = {key: run(both[key], steps) / steps for key in order}
            ratios.append(t["new"] / t["old"])
            t_old.append(t["old"])
            t_new.append(t["new"])
        q = statistics.quantiles(ratios, n=10)
        load = open("/proc/loadavg").read().split()[0]
        kind = "cpu" if args.cpu else "wall"
        print(f"[{T}, {B}, {N}] {args.mode} threads {args.threads} {kind} load {load} steps/round {steps}: old "
              f"{statistics.median(t_old) * 1e3:.3f} ms new {statistics.median(t_new) * 1e3:.3f} ms | new/old "
              f"{statistics.median(ratios):.3f} (p10 {q[0]:.3f} p90 {q[-1]:.3f}, {args.rounds} rounds)", flush=True)
    use(both["new"])


if __name__ == "__main__":
    main()
