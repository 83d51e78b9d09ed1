"""The same network in Brian2 (a test and benchmark peer; imported lazily, ``pip install brian2``).

Brian2 runs, each step: state update, threshold, synaptic events, reset. Our synaptic input is a
current held for one step (``q_t``, see :mod:`spikeforge.sim.engine`); in Brian2 it is a variable
``I_syn`` cleared just before the synapses run and incremented by ``on_pre``, so the next step's
state update reads exactly the weights that arrive there. A spike at step ``t`` through a synapse of
delay ``d`` steps reaches our input at ``t + d``; Brian2's ``delay = (d - 1) dt`` does the same.
Refractoriness: ``(unless refractory)`` freezes ``v`` and blocks the threshold for
``refractory = n_ref dt`` after a spike, as ours does.

STDP (benchmark only): Brian2's per-synapse event-driven traces with ``on_pre`` depression and
``on_post`` potentiation are the same pair rule with the same amount of work, but Brian2 runs the
``pre`` pathway first, so a same-step pre/post pair gives ``+A+`` there and ``+A+ − A−`` here.
"""

from __future__ import annotations

import importlib.machinery
import sys
import time
import warnings
from types import CodeType, ModuleType
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from .network import EventNetwork

__all__ = ["Brian2Run", "brian2_run", "import_brian2"]

_PTP_MODULE = "brian2.units.fundamentalunits"


class _PtpFixLoader(importlib.machinery.SourceFileLoader):
    """Compiles Brian2's units module with ``np.ndarray.ptp`` read as ``np.ptp`` (upstream fix, brian2 PR #1705)."""

    def get_code(self, fullname: str) -> CodeType:
        source = self.get_data(self.path).replace(b"np.ndarray.ptp", b"np.ptp")
        return compile(source, self.path, "exec", dont_inherit=True)


class _PtpFixFinder:
    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> Any:
        if name != _PTP_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.origin:
            spec.loader = _PtpFixLoader(name, spec.origin)
        return spec


def import_brian2() -> ModuleType:
    """``import brian2``, also under numpy >= 2.4.

    Brian2 2.9.0 (the latest release) reads ``np.ndarray.ptp`` while defining its ``Quantity``
    class; numpy 2.4 removed that method, so the import fails. Brian2 fixed it upstream (PR #1705,
    not yet released) by wrapping ``np.ptp`` instead; this applies the same one-word change while the
    module is compiled (only when numpy lacks ``ndarray.ptp``; nothing on disk is modified).
    """
    if hasattr(np.ndarray, "ptp") or "brian2" in sys.modules:
        import brian2
        return brian2
    finder = _PtpFixFinder()
    sys.meta_path.insert(0, finder)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # brian2's use of old pyparsing names
            import brian2
    finally:
        sys.meta_path.remove(finder)
    return brian2


class Brian2Run(NamedTuple):
    t: np.ndarray  # [E] step of each spike
    i: np.ndarray  # [E] neuron
    build_s: float  # wall time to build the network [s]
    run_s: float  # wall time of net.run [s]
    run_cpu_s: float  # CPU time of this process during net.run [s]
    w: np.ndarray | None  # final weights in our CSR order (with STDP)


def _np(t: Tensor | float, n: int) -> Any:
    a = torch.as_tensor(t, dtype=torch.float64).numpy()
    return np.broadcast_to(a, (n,)).copy()


def brian2_run(net: EventNetwork, current: Tensor | float, v0: Tensor | float, steps: int, *,
               target: str = "numpy") -> Brian2Run:
    """Simulate ``net`` (one batch entry) in Brian2 for ``steps`` steps of constant ``current`` ``[N]``.

    ``target``: Brian2's code generation target (``"numpy"``: no compiler; ``"cython"``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # brian2's use of old pyparsing names
        return _run(net, current, v0, steps, target)


def _run(net: EventNetwork, current: Tensor | float, v0: Tensor | float, steps: int, target: str) -> Brian2Run:
    b2: Any = import_brian2()
    b2.start_scope()
    b2.prefs.codegen.target = target
    b2.prefs.core.default_float_dtype = np.float64
    n, dt = net.n, net.dt * b2.second
    g = net.graph
    resets = {"value": "v = v_reset", "subtract": "v -= v_th", "zero": "v = 0"}
    reset_name = getattr(net.reset_fn, "__name__", "")
    reset = {"reset_to_value": resets["value"], "reset_subtract": resets["subtract"],
             "reset_zero": resets["zero"]}.get(reset_name)
    if reset is None:
        raise ValueError(f"brian2_run: reset {reset_name!r} has no Brian2 counterpart")
    method = {"euler": "euler", "exp": "exact"}[net.integrator]
    eqs = """
    dv/dt = (v_leak - v + r * (I_ext + I_syn)) / tau_mem : 1 (unless refractory)
    I_ext : 1
    I_syn : 1
    tau_mem : second
    r : 1
    v_leak : 1
    v_th : 1
    v_reset : 1
    """
    t0 = time.perf_counter()
    G = b2.NeuronGroup(n, eqs, threshold="v > v_th", reset=reset, refractory=net.n_ref * dt, method=method, dt=dt)
    G.tau_mem = _np(net.tau_mem, n) * b2.second
    for name in ("r", "v_leak", "v_th", "v_reset"):
        setattr(G, name, _np(getattr(net, name), n))
    G.I_ext = _np(current, n)
    G.v = _np(v0, n)
    G.run_regularly("I_syn = 0", when="before_synapses")
    pre, post = (t.numpy() for t in g.edges())
    if net.stdp is None:
        S = b2.Synapses(G, G, "w : 1", on_pre="I_syn_post += w", dt=dt)
    else:
        p = net.stdp.params
        lo, hi = net.w_bounds if net.w_bounds is not None else (-np.inf, np.inf)
        S = b2.Synapses(
            G, G,
            """w : 1
            dApre/dt = -Apre / tau_pre : 1 (event-driven)
            dApost/dt = -Apost / tau_post : 1 (event-driven)""",
            on_pre=f"I_syn_post += w\nApre += {p.a_pre}\nw = clip(w - {p.eta_minus} * Apost, {lo}, {hi})",
            on_post=f"Apost += {p.a_post}\nw = clip(w + {p.eta_plus} * Apre, {lo}, {hi})",
            namespace={"tau_pre": p.tau_pre * b2.second, "tau_post": p.tau_post * b2.second}, dt=dt)
    S.connect(i=pre, j=post)
    S.w = g.w.double().numpy()
    S.delay = (g.delay.numpy() - 1) * dt
    M = b2.SpikeMonitor(G)
    bnet = b2.Network(G, S, M)
    build = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    bnet.run(steps * dt)
    run, run_cpu = time.perf_counter() - t0, time.process_time() - c0
    t_steps = np.round(np.asarray(M.t / dt)).astype(np.int64)
    w = np.asarray(S.w[:]) if net.stdp is not None else None
    return Brian2Run(t_steps, np.asarray(M.i[:], dtype=np.int64), build, run, run_cpu, w)
