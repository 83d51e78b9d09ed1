"""The Maass liquid of :mod:`.maass` in Brian2 (a test and benchmark peer; ``pip install brian2``).

Same equations, same drawn network (synapses, amplitudes, delays, ``U, D, F``, input weights,
initial membrane), one batch entry. Brian2 integrates ``v`` and the three currents with its
``exact`` method (the closed form in :mod:`.maass`); the Tsodyks–Markram variables are
``event-driven`` (exact relaxation between a synapse's spikes), updated at arrival time (``on_pre``
after the delay), which gives the same efficacies as our update at emission time because all spikes
of a synapse share one delay. Input spikes go through a ``SpikeGeneratorGroup`` and static synapses.
Brian2 is imported through :func:`spikeforge.sim.brian2_peer.import_brian2`.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..sim.brian2_peer import import_brian2
from .maass import MaassNetwork

__all__ = ["MaassBrian2Run", "maass_brian2_run"]


class MaassBrian2Run(NamedTuple):
    t: np.ndarray  # [E] step of each spike
    i: np.ndarray  # [E] neuron
    build_s: float  # wall time to build the network [s]
    warmup_s: float  # wall time of the warm-up run (code generation; 0 without warm-up) [s]
    run_s: float  # wall time of net.run [s]
    run_cpu_s: float  # CPU time of this process during net.run [s]


def maass_brian2_run(net: MaassNetwork, x: Tensor, steps: int | None = None, *, v0: Tensor | None = None,
                     target: str = "numpy", warmup: bool = False) -> MaassBrian2Run:
    """Simulate ``net`` in Brian2 on input spikes ``x [T, n_in]`` (0/1) from ``v0`` (default ``net.v0``).

    ``target``: Brian2's code generation target (``"numpy"``: no compiler; ``"cython"``).
    ``warmup``: first run 10 steps and restore the network, so that the timed run does not include
    the one-off code generation (sympy's derivation of the integrator, compilation for cython).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # brian2's use of old pyparsing names
        return _run(net, x, x.shape[0] if steps is None else steps, v0, target, warmup)


def _run(net: MaassNetwork, x: Tensor, steps: int, v0: Tensor | None, target: str,
         warmup: bool) -> MaassBrian2Run:
    if x.ndim != 2 or x.shape[1] != net.w_in.shape[1]:
        raise ValueError(f"maass_brian2_run: x must be [T, {net.w_in.shape[1]}] spikes, got {tuple(x.shape)}")
    if bool(((x != 0) & (x != 1)).any()):
        raise ValueError("maass_brian2_run: x must hold 0/1 spikes")
    b2: Any = import_brian2()
    b2.start_scope()
    b2.prefs.codegen.target = target
    b2.prefs.core.default_float_dtype = np.float64
    cfg = net.cfg
    dt = cfg.dt * b2.second
    n = net.is_inh.numel()
    ns = {"tau_mem": cfg.tau_mem * b2.second, "r_in": cfg.r_in, "i_b": cfg.i_b, "v_th": cfg.v_th,
          "v_reset": cfg.v_reset, "tau_e": cfg.tau_syn[0] * b2.second, "tau_i": cfg.tau_syn[1] * b2.second}
    eqs = """
    dv/dt = (-v + r_in * (i_b + i_e + i_i + i_in)) / tau_mem : 1 (unless refractory)
    di_e/dt = -i_e / tau_e : 1
    di_i/dt = -i_i / tau_i : 1
    di_in/dt = -i_in / tau_in : 1
    tau_in : second (constant)
    t_ref : second (constant)
    """
    t0 = time.perf_counter()
    G = b2.NeuronGroup(n, eqs, threshold="v > v_th", reset="v = v_reset", refractory="t_ref", method="exact",
                       namespace=ns, dt=dt)
    is_inh = net.is_inh.numpy()
    G.tau_in = np.where(is_inh, cfg.tau_in[1], cfg.tau_in[0]) * b2.second
    G.t_ref = (net.n_ref.numpy().astype(np.float64) + 1) * cfg.dt * b2.second
    G.v = (net.v0 if v0 is None else v0).double().numpy()
    g = net.graph
    pre, post = (t.numpy() for t in g.edges())
    model = """A : 1 (constant)
    is_e : 1 (constant)"""
    if cfg.stp:
        model += """
        U : 1 (constant)
        tau_rec : second (constant)
        tau_facil : second (constant)
        du/dt = -u / tau_facil : 1 (event-driven)
        dR/dt = (1 - R) / tau_rec : 1 (event-driven)"""
        on_pre = """u += U * (1 - u)
        i_e_post += is_e * A * (u * R)
        i_i_post += (1 - is_e) * A * (u * R)
        R -= u * R"""
    else:
        on_pre = """i_e_post += is_e * A
        i_i_post += (1 - is_e) * A"""
    S = b2.Synapses(G, G, model, on_pre=on_pre, dt=dt)
    S.connect(i=pre, j=post)
    S.A = g.w.double().numpy()
    S.is_e = 1.0 - is_inh[pre].astype(np.float64)
    S.delay = g.delay.numpy() * dt
    if cfg.stp:
        S.U = net.U.double().numpy()
        S.tau_rec = net.D.double().numpy() * b2.second
        S.tau_facil = net.F.double().numpy() * b2.second
        S.u = 0.0
        S.R = 1.0
    ti, ii = torch.nonzero(x[:steps] != 0, as_tuple=True)
    inp = b2.SpikeGeneratorGroup(x.shape[1], ii.numpy(), ti.numpy() * dt, dt=dt)
    post_in, pre_in = torch.nonzero(net.w_in, as_tuple=True)
    S_in = b2.Synapses(inp, G, "w : 1", on_pre="i_in_post += w", dt=dt)
    S_in.connect(i=pre_in.numpy(), j=post_in.numpy())
    S_in.w = net.w_in[post_in, pre_in].double().numpy()
    M = b2.SpikeMonitor(G)
    bnet = b2.Network(G, S, inp, S_in, M)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    if warmup:
        bnet.store()
        bnet.run(10 * dt)
        bnet.restore()
    warm = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    bnet.run(steps * dt)
    run, run_cpu = time.perf_counter() - t0, time.process_time() - c0
    t_steps = np.round(np.asarray(M.t / dt)).astype(np.int64)
    return MaassBrian2Run(t_steps, np.asarray(M.i[:], dtype=np.int64), build, warm, run, run_cpu)
