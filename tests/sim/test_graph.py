"""CSR/CSC structure, generators' statistics, and refusals of bad input."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.sim import (
    EventNetwork,
    distance_graph,
    erdos_renyi,
    fixed_indegree,
    from_dense,
    from_edges,
    grid_positions,
    small_world,
)
from spikeforge.sim.generators import _DENSE_LIMIT


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_csr_and_transposed_index_match_dense():
    W = torch.randn(30, 40, generator=_gen()) * (torch.rand(30, 40, generator=_gen(1)) < 0.2)
    g = from_dense(W, delay=torch.randint(1, 5, (30, 40), generator=_gen(2)))
    assert torch.equal(g.to_dense(), W) and g.n_pre == 40 and g.n_post == 30
    pre = g.pre_index()
    for i in range(40):  # row i of the CSR = column i of W
        cols = g.col[g.crow[i]:g.crow[i + 1]]
        assert torch.equal(cols, W[:, i].nonzero().squeeze(1))
    for j in range(30):  # transposed index: the synapses onto j, with their presynaptic neurons
        k = torch.arange(int(g.ccol[j]), int(g.ccol[j + 1]))
        assert bool((g.col[g.perm[k]] == j).all())
        assert torch.equal(g.prow[k], pre[g.perm[k]])
        assert torch.equal(g.prow[k], W[j].nonzero().squeeze(1))
    assert torch.equal(g.out_degree(), (W != 0).sum(0)) and torch.equal(g.in_degree(), (W != 0).sum(1))


def test_from_edges_keeps_weights_and_delays_with_their_synapse():
    pre, post = torch.tensor([3, 0, 3, 1]), torch.tensor([0, 2, 1, 3])
    w, d = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([2, 1, 3, 4])
    g = from_edges(pre, post, 4, w=w, delay=d)
    got = {(int(a), int(b)): (float(x), int(y)) for a, b, x, y in zip(*g.edges(), g.w, g.delay)}
    assert got == {(3, 0): (1.0, 2), (0, 2): (2.0, 1), (3, 1): (3.0, 3), (1, 3): (4.0, 4)}


@pytest.mark.parametrize("kwargs, match", [
    (dict(pre=torch.tensor([0, 0]), post=torch.tensor([1, 1])), "duplicate synapse 0 -> 1"),
    (dict(pre=torch.tensor([0, 5]), post=torch.tensor([1, 1])), r"pre indices must lie in \[0, 3\)"),
    (dict(pre=torch.tensor([0, 1]), post=torch.tensor([1, -1])), "post indices"),
    (dict(pre=torch.tensor([0, 1]), post=torch.tensor([1])), "pre has 2 entries but post has 1"),
    (dict(pre=torch.tensor([0.0]), post=torch.tensor([1])), "integer tensor"),
    (dict(pre=torch.tensor([0]), post=torch.tensor([1]), delay=0), "delays must be >= 1"),
    (dict(pre=torch.tensor([0]), post=torch.tensor([1]), delay=torch.tensor([1.5])), "whole numbers"),
    (dict(pre=torch.tensor([0]), post=torch.tensor([1]), w=torch.tensor([math.nan])), "finite"),
    (dict(pre=torch.tensor([0]), post=torch.tensor([1]), w=torch.ones(2)), r"shape \[1\]"),
])
def test_from_edges_refuses_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        from_edges(n_pre=3, **kwargs)


@pytest.mark.parametrize("n, k", [(200, 20), (3000, 60)])  # permutation path, draw-with-replacement path
def test_fixed_indegree_is_exact_and_uniform(n, k):
    assert (n * (n - 1) > _DENSE_LIMIT) == (n == 3000)
    g = fixed_indegree(n, k, generator=_gen())
    assert bool((g.in_degree() == k).all())
    pre, post = g.edges()
    assert not bool((pre == post).any())
    # every presynaptic neuron equally likely: out-degrees ~ Binomial(n - 1, k / (n - 1)) summed over posts
    out = g.out_degree().double()
    p = k / (n - 1)
    chi2 = float(((out - k) ** 2).sum() / (k * (1 - p)))  # ~ chi2(n) (rows independent)
    assert abs(chi2 - n) < 5 * math.sqrt(2 * n)
    # and no bias in which neighbours a row gets (e.g. towards low indices)
    assert abs(float(pre.double().mean()) - (n - 1) / 2) < 5 * n / math.sqrt(12 * pre.numel())


@pytest.mark.parametrize("n, p", [(300, 0.05), (5000, 0.002)])
def test_erdos_renyi_degree_statistics(n, p):
    g = erdos_renyi(n, p, generator=_gen(3))
    m = n * (n - 1) * p
    assert abs(g.n_synapses - m) < 5 * math.sqrt(m * (1 - p))
    deg = g.in_degree().double()
    var = (n - 1) * p * (1 - p)
    assert abs(float(deg.var()) / var - 1) < 5 * math.sqrt(2 / (n - 1)) + 0.05
    pre, post = g.edges()
    assert not bool((pre == post).any())
    assert abs(float(pre.double().mean()) - (n - 1) / 2) < 5 * n / math.sqrt(12 * pre.numel())


def test_small_world_lattice_symmetry_and_rewiring_fraction():
    n, k = 1000, 10
    lattice = small_world(n, k, 0.0).mask()
    ring = torch.zeros(n, n)
    for m in range(1, k // 2 + 1):
        idx = torch.arange(n)
        ring[idx, (idx + m) % n] = ring[(idx + m) % n, idx] = 1
    assert torch.equal(lattice, ring)
    for beta in (0.1, 0.5):
        A = small_world(n, k, beta, generator=_gen(4)).mask()
        assert torch.equal(A, A.T) and A.diagonal().sum() == 0
        assert int(A.sum()) == n * k  # rewiring keeps the number of links
        moved = float((A * (1 - ring)).sum()) / 2 / (n * k / 2)  # links that are not lattice links
        e = n * k / 2
        assert abs(moved - beta) < 5 * math.sqrt(beta * (1 - beta) / e) + 2 * k / n  # (+ re-hits of the lattice)


def test_small_world_clustering_follows_watts_strogatz():
    nx = pytest.importorskip("networkx")
    n, k = 600, 10
    c0 = 3 * (k - 2) / (4 * (k - 1))
    for beta in (0.1, 0.3):
        A = small_world(n, k, beta, generator=_gen(5)).mask()
        ours = nx.average_clustering(nx.from_numpy_array(A.numpy()))
        theirs = sum(nx.average_clustering(nx.watts_strogatz_graph(n, k, beta, seed=s)) for s in range(3)) / 3
        assert ours == pytest.approx(theirs, abs=0.035)  # seed-to-seed spread ~0.01; nx rewires sequentially
        assert ours == pytest.approx(c0 * (1 - beta) ** 3, abs=0.03)  # Barrat & Weigt's approximation


def test_distance_graph_probability_follows_gaussian_profile():
    pos = grid_positions(10, 10, 10)
    c, lam = 0.6, 2.0
    g = distance_graph(pos, c, lam, generator=_gen(6))
    A = g.mask().T  # [pre, post]
    d2 = torch.cdist(pos.double(), pos.double()).pow(2).round()
    off = ~torch.eye(1000, dtype=torch.bool)
    assert A.diagonal().sum() == 0
    checked = 0
    for v in range(1, 13):  # squared distances on the grid with enough pairs
        sel = (d2 == v) & off
        pairs = int(sel.sum())
        expect = c * math.exp(-v / lam**2)
        if pairs * expect < 20:
            continue
        got = float(A[sel].mean())
        assert abs(got - expect) < 5 * math.sqrt(expect * (1 - expect) / pairs), (v, got, expect)
        checked += 1
    assert checked >= 6


def test_distance_graph_group_matrix():
    pos = grid_positions(12, 12, 6)
    groups = (torch.rand(pos.shape[0], generator=_gen(7)) < 0.2).long()  # 1 = inhibitory
    c = torch.tensor([[0.3, 0.2], [0.4, 0.1]])  # [pre group, post group] (EE, EI; IE, II)
    g = distance_graph(pos, c, 2.0, groups=groups, generator=_gen(8))
    A = g.mask().T.bool()  # [pre, post]
    d2 = torch.cdist(pos, pos).pow(2).round()
    for a in (0, 1):
        for b in (0, 1):
            sel = (d2 == 1) & (groups[:, None] == a) & (groups[None, :] == b)
            expect = float(c[a, b]) * math.exp(-1 / 4)
            got, pairs = float(A[sel].float().mean()), int(sel.sum())
            assert abs(got - expect) < 5 * math.sqrt(expect * (1 - expect) / pairs), (a, b, got, expect)


@pytest.mark.parametrize("call, match", [
    (lambda: fixed_indegree(10, 10), "k=10 exceeds the 9 available"),
    (lambda: fixed_indegree(10, -1), "k must be >= 0"),
    (lambda: erdos_renyi(10, 1.5), "probability"),
    (lambda: small_world(10, 3, 0.1), "k must be even"),
    (lambda: small_world(10, 4, -0.1), "beta must be a probability"),
    (lambda: distance_graph(grid_positions(3, 3), 1.5, 1.0), r"\[0, 1\]"),
    (lambda: distance_graph(grid_positions(3, 3), torch.eye(2) * 0.5, 1.0), "needs groups"),
    (lambda: distance_graph(grid_positions(3, 3), 0.5, 0.0), "lam must be > 0"),
    (lambda: distance_graph(torch.zeros(9, 2, dtype=torch.long), 0.5, 1.0), "float tensor"),
    (lambda: grid_positions(), "one or more sizes"),
])
def test_generators_refuse_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_seeded_generators_are_reproducible():
    for make in (lambda g: fixed_indegree(500, 7, generator=g), lambda g: erdos_renyi(500, 0.01, generator=g),
                 lambda g: small_world(500, 6, 0.2, generator=g)):
        a, b = make(_gen(9)), make(_gen(9))
        assert torch.equal(a.crow, b.crow) and torch.equal(a.col, b.col)


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(dt=2e-2), ValueError, "forward Euler needs dt <= tau_mem"),
    (dict(t_ref=1.5e-4), ValueError, "whole number of steps"),
    (dict(t_ref=-1e-3), ValueError, "t_ref must be >= 0"),
    (dict(tau_mem=-1.0, integrator="exp"), ValueError, "tau_mem must be > 0"),
    (dict(integrator="rk4"), ValueError, "integrator must be 'euler' or 'exp'"),
    (dict(v_th=torch.ones(3)), ValueError, r"v_th must be a scalar or \[N\] = \[5\]"),
    (dict(stdp="stdp"), TypeError, "STDP rule"),
    (dict(w_bounds=(1.0, 0.0)), ValueError, "lo <= hi"),
    (dict(w_bounds=(0.0, 0.1)), ValueError, "outside w_bounds"),
    (dict(reset="bogus"), ValueError, "bogus"),
])
def test_event_network_refuses_bad_arguments(kwargs, err, match):
    g = fixed_indegree(5, 2, w=0.5, generator=_gen())
    with pytest.raises(err, match=match):
        EventNetwork(g, **{"dt": 1e-4, **kwargs})


def test_event_network_refuses_mismatched_rule_graph_and_inputs():
    from spikeforge.numerics import NonFiniteError
    from spikeforge.plasticity import STDP
    g = fixed_indegree(5, 2, w=0.5, generator=_gen())
    with pytest.raises(ValueError, match="STDP rule has dt"):
        EventNetwork(g, dt=1e-4, stdp=STDP(dt=1e-3))
    with pytest.raises(ValueError, match="recurrent"):
        EventNetwork(fixed_indegree(5, 2, n_pre=4), dt=1e-4)
    with pytest.raises(TypeError, match="SparseGraph"):
        EventNetwork(torch.ones(5, 5), dt=1e-4)  # type: ignore[arg-type]
    net = EventNetwork(g, dt=1e-4)
    with pytest.raises(ValueError, match="give steps="):
        net.run(1.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        net.run(torch.ones(3), steps=2)
    with pytest.raises(ValueError, match=r"must match the state \[B, N\] = \[2, 5\]"):
        net.run(torch.ones(4, 2, 3), net.init_state(2))
    with pytest.raises(ValueError, match="expected currents"):
        net(torch.ones(4, 2))
    with pytest.raises(NonFiniteError, match="current"):
        net.run(torch.tensor([1.0, math.nan, 0, 0, 0]), steps=3)
