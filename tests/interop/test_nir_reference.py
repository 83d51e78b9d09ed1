"""Our import of hand-built NIR graphs matches an independent numpy forward-Euler simulation of the
NIR equations spike for spike (both in float64).

The reference is written from the NIR primitive definitions (nir/ir/neuron.py docstrings), not from
spikeforge code: ``tau v' = (v_leak - v) + r I``; ``tau_syn I' = -I + w_in S``; spike if
``v > v_threshold`` (strict), then ``v = v_reset`` in the same step; edges into a node are summed;
an edge closing a cycle delivers its value one step later; Delay shifts by ``delay / dt`` steps.
"""

from __future__ import annotations

import nir
import numpy as np
import torch

from spikeforge.interop.nir import from_nir

DT = 1e-4
T, B = 60, 4


def _rng() -> np.random.Generator:
    return np.random.default_rng(42)


def _lif(rng: np.random.Generator, n: int) -> nir.LIF:
    return nir.LIF(tau=rng.uniform(5e-4, 3e-3, n), r=rng.uniform(0.5, 3.0, n), v_leak=rng.uniform(-0.2, 0.2, n),
                   v_threshold=rng.uniform(0.8, 1.2, n), v_reset=rng.uniform(-0.5, 0.0, n))


def _euler_lif(node: nir.LIF, x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = v + DT / node.tau * ((node.v_leak - v) + node.r * x)
    z = (v > node.v_threshold).astype(np.float64)
    return z, np.where(z > 0, node.v_reset, v)


def test_feedforward_matches_numpy_euler() -> None:
    rng = _rng()
    W1, b1 = rng.normal(0, 1.0, (10, 5)), rng.normal(0.5, 0.2, 10)
    lif = _lif(rng, 10)
    W2 = rng.normal(0.3, 1.0, (8, 10))
    cuba = nir.CubaLIF(tau_syn=rng.uniform(3e-4, 1e-3, 8), tau_mem=rng.uniform(1e-3, 3e-3, 8),
                       r=rng.uniform(1.0, 5.0, 8), v_leak=np.zeros(8), v_threshold=np.full(8, 0.5),
                       v_reset=np.full(8, -0.1), w_in=rng.uniform(0.5, 2.0, 8))
    W3, b3 = rng.normal(0.2, 1.0, (6, 8)), rng.normal(0.2, 0.1, 6)
    iff = nir.IF(r=rng.uniform(3e3, 1e4, 6), v_threshold=np.ones(6), v_reset=np.zeros(6))
    W4 = rng.normal(0, 1.0, (3, 6))
    li = nir.LI(tau=rng.uniform(1e-3, 2e-3, 3), r=rng.uniform(1, 2, 3), v_leak=rng.uniform(-0.1, 0.1, 3))
    graph = nir.NIRGraph.from_list(nir.Affine(weight=W1, bias=b1), lif, nir.Linear(weight=W2), cuba,
                                   nir.Affine(weight=W3, bias=b3), iff, nir.Linear(weight=W4), li)
    xs = rng.uniform(0, 3, (T, B, 5))

    v1 = np.broadcast_to(lif.v_leak, (B, 10)).copy()  # neurons start at rest
    i2, v2 = np.zeros((B, 8)), np.zeros((B, 8))
    v3, v4 = np.zeros((B, 6)), np.broadcast_to(li.v_leak, (B, 3)).copy()
    ref, spikes = [], []
    for x in xs:
        z1, v1 = _euler_lif(lif, x @ W1.T + b1, v1)
        i2 = i2 + DT / cuba.tau_syn * (-i2 + cuba.w_in * (z1 @ W2.T))
        v2 = v2 + DT / cuba.tau_mem * ((cuba.v_leak - v2) + cuba.r * i2)
        z2 = (v2 > cuba.v_threshold).astype(np.float64)
        v2 = np.where(z2 > 0, cuba.v_reset, v2)
        v3 = v3 + DT * iff.r * (z2 @ W3.T + b3)
        z3 = (v3 > iff.v_threshold).astype(np.float64)
        v3 = np.where(z3 > 0, iff.v_reset, v3)
        v4 = v4 + DT / li.tau * ((li.v_leak - v4) + li.r * (z3 @ W4.T))
        ref.append(v4.copy())
        spikes.append((z1, z2, z3))

    net = from_nir(graph, dt=DT, dtype=torch.float64)
    xt = torch.from_numpy(xs)
    with torch.no_grad():
        ours = net(xt).numpy()
        h1 = net.module("lif")(net.module("affine")(xt))
        h2 = net.module("cubalif")(net.module("linear")(h1))
        h3 = net.module("if")(net.module("affine_1")(h2))
    for k, h in enumerate((h1, h2, h3)):
        expected = np.stack([s[k] for s in spikes])
        assert 0 < expected.mean() < 1, f"layer {k} inactive: reference is vacuous"
        np.testing.assert_array_equal(h.numpy(), expected)
    np.testing.assert_allclose(ours, np.stack(ref), rtol=1e-12, atol=1e-12)


def test_other_primitives_match_numpy() -> None:
    """Affine → Scale → Delay → Threshold → Linear → CubaLI, and a parallel branch into I (summed output)."""
    rng = _rng()
    W1, b1 = rng.normal(0, 1.0, (6, 4)), rng.normal(0, 0.2, 6)
    s = rng.uniform(-1, 2, 6)
    steps = np.array([0, 1, 2, 3, 5, 8])
    th = rng.uniform(-0.2, 0.5, 6)
    W2 = rng.normal(0, 1.0, (3, 6))
    cli = nir.CubaLI(tau_syn=rng.uniform(3e-4, 1e-3, 3), tau_mem=rng.uniform(1e-3, 2e-3, 3),
                     r=rng.uniform(1, 3, 3), v_leak=rng.uniform(-0.1, 0.1, 3), w_in=rng.uniform(0.5, 2, 3))
    W3 = rng.normal(0, 1.0, (3, 4))
    integ = nir.I(r=rng.uniform(1e3, 5e3, 3))
    nodes = {"input": nir.Input(np.array([4])), "aff": nir.Affine(weight=W1, bias=b1), "scale": nir.Scale(scale=s),
             "delay": nir.Delay(delay=steps * DT), "th": nir.Threshold(threshold=th), "lin": nir.Linear(weight=W2),
             "cli": cli, "lin2": nir.Linear(weight=W3), "integ": integ, "output": nir.Output(np.array([3]))}
    edges = [("input", "aff"), ("aff", "scale"), ("scale", "delay"), ("delay", "th"), ("th", "lin"),
             ("lin", "cli"), ("cli", "output"), ("input", "lin2"), ("lin2", "integ"), ("integ", "output")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    xs = rng.uniform(-1, 2, (T, B, 4))

    hist = [(xs[t] @ W1.T + b1) * s for t in range(T)]
    i, v = np.zeros((B, 3)), np.broadcast_to(cli.v_leak, (B, 3)).copy()
    u = np.zeros((B, 3))
    ref, zs = [], []
    for t in range(T):
        delayed = np.stack([hist[t - d][:, n] if t >= d else np.zeros(B) for n, d in enumerate(steps)], axis=1)
        z = (delayed > th).astype(np.float64)
        i = i + DT / cli.tau_syn * (-i + cli.w_in * (z @ W2.T))
        v = v + DT / cli.tau_mem * ((cli.v_leak - v) + cli.r * i)
        u = u + DT * integ.r * (xs[t] @ W3.T)
        ref.append(v + u)
        zs.append(z)
    assert 0 < np.mean(zs) < 1
    net = from_nir(graph, dt=DT, dtype=torch.float64)
    with torch.no_grad():
        ours = net(torch.from_numpy(xs)).numpy()
    np.testing.assert_allclose(ours, np.stack(ref), rtol=1e-12, atol=1e-12)


def test_recurrent_graph_matches_numpy() -> None:
    """input → Affine → LIF ⟲ Affine(rec) → output; the recurrent current arrives one step later."""
    rng = _rng()
    W, b = rng.normal(0.2, 1.0, (12, 5)), rng.normal(0.3, 0.1, 12)
    lif = _lif(rng, 12)
    Wr, br = rng.normal(0, 0.8, (12, 12)), rng.normal(0, 0.1, 12)
    graph = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([5])), "ff": nir.Affine(weight=W, bias=b), "lif": lif,
               "rec": nir.Affine(weight=Wr, bias=br), "out": nir.Output(np.array([12]))},
        edges=[("in", "ff"), ("ff", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")])
    xs = rng.uniform(0, 2, (T, B, 5))
    v = np.broadcast_to(lif.v_leak, (B, 12)).copy()
    rec = np.zeros((B, 12))  # nothing has crossed the recurrent edge before the first step
    ref = []
    for x in xs:
        z, v = _euler_lif(lif, x @ W.T + b + rec, v)
        rec = z @ Wr.T + br
        ref.append(z)
    ref_arr = np.stack(ref)
    assert 0 < ref_arr.mean() < 1
    net = from_nir(graph, dt=DT, dtype=torch.float64)
    assert net.recurrent_edges == [("rec", "lif")]
    with torch.no_grad():
        np.testing.assert_array_equal(net(torch.from_numpy(xs)).numpy(), ref_arr)
