r"""Random connectivity generators returning :class:`~spikeforge.sim.graph.SparseGraph`.

- :func:`fixed_indegree`: every postsynaptic neuron receives exactly ``k`` synapses from distinct
  presynaptic neurons chosen uniformly (Erdős–Rényi with fixed in-degree).
- :func:`erdos_renyi`: every ordered pair is connected independently with probability ``p``
  (:math:`G(n, p)`; in-degrees are Binomial).
- :func:`small_world`: Watts–Strogatz (1998): a ring where each neuron is linked to its ``k``
  nearest neighbours (``k/2`` per side), each link's far end rewired with probability ``beta`` to a
  uniformly chosen neuron (no self-links, no double links); undirected, so the synapses are
  symmetric (``i → j`` and ``j → i``).
- :func:`distance_graph`: :math:`P(i \to j) = C\,e^{-(D(i, j)/\lambda)^2}` over positions
  (Maass, Natschläger & Markram 2002), ``C`` a scalar or per (pre group, post group).

All draws come from the ``generator`` (``torch.Generator``), so a seed gives one graph. The random
families sample without building an ``n × n`` matrix (memory and time ~ synapses), except
:func:`distance_graph`, which visits every pair (time ~ ``n²``, memory ~ ``chunk · n``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .graph import SparseGraph, from_edges

__all__ = ["fixed_indegree", "erdos_renyi", "small_world", "distance_graph", "grid_positions"]

_DENSE_LIMIT = 1 << 22  # rows x choices below which a row is sampled by a random permutation


def _distinct_per_row(counts: Tensor, n_choices: int, exclude: Tensor | None,
                      gen: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """For each row ``r``, ``counts[r]`` distinct values drawn uniformly from ``[0, n_choices)``,
    skipping ``exclude[r]`` if given. Returns ``(row [S], value [S])``, rows in order.

    Small problems take the first ``counts[r]`` entries of a random permutation per row; large ones
    draw with replacement and keep the first ``counts[r]`` distinct values in draw order (a uniform
    subset), redrawing the rare rows that come up short.
    """
    n_eff = n_choices - (exclude is not None)
    rows_all = torch.arange(counts.numel())
    if counts.numel() and int(counts.max()) > n_eff:
        raise ValueError(f"cannot choose {int(counts.max())} distinct neurons out of {n_eff}")
    rows_out, vals_out = [], []
    if counts.numel() * n_eff <= _DENSE_LIMIT or (counts.numel() and 2 * int(counts.max()) > n_eff):
        chunk = max(1, _DENSE_LIMIT // max(n_eff, 1))
        for r0 in range(0, counts.numel(), chunk):
            c = counts[r0:r0 + chunk]
            perm = torch.argsort(torch.rand(c.numel(), n_eff, generator=gen), dim=1)  # [R, n_eff]
            take = torch.arange(n_eff)[None, :] < c[:, None]
            rows_out.append(rows_all[r0:r0 + chunk].repeat_interleave(c))
            vals_out.append(perm[take])
    else:
        kmax = int(counts.max())
        m0 = kmax + 16 + math.ceil(2 * kmax * kmax / n_eff)  # draws per row: expected duplicates ~ m^2 / (2 n)
        for r0 in range(0, counts.numel(), max(1, _DENSE_LIMIT // m0)):
            todo, m = rows_all[r0:r0 + max(1, _DENSE_LIMIT // m0)], m0
            while todo.numel():
                c = counts[todo]
                draws = torch.randint(n_eff, (todo.numel(), m), generator=gen)  # [R, m]
                srt, idx = torch.sort(draws, dim=1, stable=True)
                dup_sorted = torch.zeros_like(srt, dtype=torch.bool)
                dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]  # later copies of a value (stable: in draw order)
                fresh = ~torch.zeros_like(dup_sorted).scatter_(1, idx, dup_sorted)  # first occurrences
                rank = fresh.cumsum(1)
                ok = rank[:, -1] >= c
                take = fresh & (rank <= c[:, None]) & ok[:, None]
                rows_out.append(todo[ok].repeat_interleave(c[ok]))
                vals_out.append(draws[take])
                todo, m = todo[~ok], 2 * m
    if not rows_out:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    rows, vals = torch.cat(rows_out), torch.cat(vals_out)
    order = torch.sort(rows, stable=True)[1]
    rows, vals = rows[order], vals[order]
    if exclude is not None:
        vals = vals + (vals >= exclude[rows]).long()  # skip the excluded value
    return rows, vals


def _check_n(where: str, n: int, n_pre: int | None) -> tuple[int, int, bool]:
    n_pre_ = n if n_pre is None else int(n_pre)
    if int(n) < 1 or n_pre_ < 1:
        raise ValueError(f"{where}: population sizes must be >= 1, got n={n}, n_pre={n_pre}")
    return int(n), n_pre_, n_pre is None


def fixed_indegree(n: int, k: int, *, n_pre: int | None = None, autapses: bool = False,
                   w: Tensor | float = 1.0, delay: Tensor | int = 1, dtype: torch.dtype = torch.float32,
                   generator: torch.Generator | None = None) -> SparseGraph:
    """Each of ``n`` postsynaptic neurons receives ``k`` synapses from distinct random presynaptic neurons.

    Args:
        n: Postsynaptic neurons (and presynaptic ones for a recurrent network, ``n_pre=None``).
        k: In-degree.
        n_pre: Size of a separate presynaptic population (then self-connections do not arise).
        autapses: In a recurrent network, allow ``i → i``.
        w, delay, dtype: Weights and delays (steps) of the synapses, as in :func:`~spikeforge.sim.from_edges`.
        generator: Random source.

    Example:
        >>> g = fixed_indegree(100, 10, generator=torch.Generator().manual_seed(0))
        >>> g.n_synapses, bool((g.in_degree() == 10).all())
        (1000, True)
    """
    n, n_pre_, recurrent = _check_n("fixed_indegree", n, n_pre)
    if int(k) < 0:
        raise ValueError(f"fixed_indegree: k must be >= 0, got {k}")
    exclude = torch.arange(n) if recurrent and not autapses else None
    if int(k) > n_pre_ - (exclude is not None):
        raise ValueError(f"fixed_indegree: k={k} exceeds the {n_pre_ - (exclude is not None)} available "
                         "presynaptic neurons")
    post, pre = _distinct_per_row(torch.full((n,), int(k), dtype=torch.long), n_pre_, exclude, generator)
    return from_edges(pre, post, n_pre_, n, w=w, delay=delay, dtype=dtype)


def erdos_renyi(n: int, p: float, *, n_pre: int | None = None, autapses: bool = False,
                w: Tensor | float = 1.0, delay: Tensor | int = 1, dtype: torch.dtype = torch.float32,
                generator: torch.Generator | None = None) -> SparseGraph:
    """Every ordered pair ``i → j`` is connected independently with probability ``p``.

    Arguments as in :func:`fixed_indegree`. In-degrees are ``Binomial(n_pre (- 1), p)``.

    Example:
        >>> g = erdos_renyi(200, 0.1, generator=torch.Generator().manual_seed(0))
        >>> 3400 < g.n_synapses < 4600
        True
    """
    n, n_pre_, recurrent = _check_n("erdos_renyi", n, n_pre)
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"erdos_renyi: p must be a probability in [0, 1], got {p}")
    exclude = torch.arange(n) if recurrent and not autapses else None
    n_eff = n_pre_ - (exclude is not None)
    counts = torch.binomial(torch.full((n,), float(n_eff), dtype=torch.float64),
                            torch.full((n,), float(p), dtype=torch.float64), generator=generator).long()
    post, pre = _distinct_per_row(counts, n_pre_, exclude, generator)
    return from_edges(pre, post, n_pre_, n, w=w, delay=delay, dtype=dtype)


def small_world(n: int, k: int, beta: float, *, w: Tensor | float = 1.0, delay: Tensor | int = 1,
                dtype: torch.dtype = torch.float32, generator: torch.Generator | None = None) -> SparseGraph:
    """Watts–Strogatz small-world graph, as symmetric synapses (``2 · n·k/2`` of them).

    Start from a ring lattice (neuron ``u`` linked to ``u ± 1 … u ± k/2``); each link ``(u, u + m)``
    has its far end moved, with probability ``beta``, to a uniform random neuron other than ``u``
    and its old partner, such that no link is doubled. ``beta = 0`` is the lattice, ``beta = 1`` close
    to a random graph. Clustering falls as about :math:`C(0)(1 - \\beta)^3` with
    :math:`C(0) = 3(k - 2) / (4(k - 1))`, path lengths fall much earlier.

    Example:
        >>> g = small_world(50, 4, 0.0)
        >>> sorted(g.col[g.crow[0]:g.crow[1]].tolist())
        [1, 2, 48, 49]
    """
    if int(k) % 2 or int(k) < 2 or int(k) >= int(n) - 1:
        raise ValueError(f"small_world: k must be even with 2 <= k < n - 1, got k={k}, n={n}")
    if not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"small_world: beta must be a probability in [0, 1], got {beta}")
    n, half = int(n), int(k) // 2
    a = torch.arange(n).repeat(half)  # [E]: link (a, a + m) for m = 1 .. k/2
    b0 = (a + torch.arange(1, half + 1).repeat_interleave(n)) % n
    rewired = torch.rand(a.numel(), generator=generator) < float(beta)
    b = b0.clone()
    todo = rewired.clone()
    while bool(todo.any()):
        idx = todo.nonzero().squeeze(1)
        new = torch.randint(n - 1, (idx.numel(),), generator=generator)
        b[idx] = new + (new >= a[idx]).long()  # never u itself
        key = torch.minimum(a, b) * n + torch.maximum(a, b)
        order = torch.argsort(key * 2 + rewired.long(), stable=True)  # per link: a kept lattice link first
        dup = torch.zeros_like(todo)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        todo = rewired & (dup | (b == b0))
    return from_edges(torch.cat([a, b]), torch.cat([b, a]), n, w=w, delay=delay, dtype=dtype)


def grid_positions(*shape: int) -> Tensor:
    """Positions ``[prod(shape), len(shape)]`` of neurons on an integer grid, in row-major order.

    Example:
        >>> grid_positions(2, 3)[:4].tolist()
        [[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [1.0, 0.0]]
    """
    if not shape or any(int(s) < 1 for s in shape):
        raise ValueError(f"grid_positions: give one or more sizes >= 1, got {shape}")
    axes = torch.meshgrid(*(torch.arange(int(s), dtype=torch.float32) for s in shape), indexing="ij")
    return torch.stack(axes, -1).reshape(-1, len(shape))  # [s0, s1, ..., D] -> [N, D]


def distance_graph(positions: Tensor, c: Tensor | float, lam: float, *, groups: Tensor | None = None,
                   autapses: bool = False, w: Tensor | float = 1.0, delay: Tensor | int = 1,
                   dtype: torch.dtype = torch.float32, generator: torch.Generator | None = None,
                   chunk: int = 1024) -> SparseGraph:
    r"""Connect ``i → j`` with probability :math:`C\,e^{-(D(i,j)/\lambda)^2}` (Euclidean ``D``).

    Args:
        positions: ``[N, dims]`` neuron positions (e.g. :func:`grid_positions`).
        c: Scale ``C`` in [0, 1], a scalar or ``[G, G]`` indexed ``[group of pre, group of post]``
            (the liquid state machine's EE/EI/IE/II values).
        lam: Length constant :math:`\lambda > 0`.
        groups: ``[N]`` group index of each neuron, needed when ``c`` is a matrix.
        autapses: Allow ``i → i`` (probability ``C``).
        chunk: Presynaptic rows drawn at a time (memory ``chunk × N``).

    Example:
        >>> g = distance_graph(grid_positions(15, 3, 3), 0.3, 2.0, generator=torch.Generator().manual_seed(0))
        >>> g.n_pre
        135
    """
    if not isinstance(positions, Tensor) or positions.dim() != 2 or not positions.is_floating_point():
        raise ValueError("distance_graph: positions must be a float tensor [N, dims]")
    if not float(lam) > 0:
        raise ValueError(f"distance_graph: lam must be > 0, got {lam}")
    n = positions.shape[0]
    c_t = torch.as_tensor(c, dtype=torch.float64)
    if c_t.dim() == 2:
        if groups is None or groups.shape != (n,) or groups.is_floating_point():
            raise ValueError("distance_graph: a matrix c needs groups, an integer tensor [N] of group indices")
        if c_t.shape[0] != c_t.shape[1] or int(groups.min()) < 0 or int(groups.max()) >= c_t.shape[0]:
            raise ValueError(f"distance_graph: c must be [G, G] and groups in [0, G); got c {tuple(c_t.shape)}, "
                             f"groups in [{int(groups.min())}, {int(groups.max())}]")
    elif c_t.dim() != 0:
        raise ValueError(f"distance_graph: c must be a scalar or a [G, G] matrix, got shape {tuple(c_t.shape)}")
    if bool(((c_t < 0) | (c_t > 1)).any()):
        raise ValueError("distance_graph: c holds probabilities in [0, 1]")
    pos = positions.double()
    pres, posts = [], []
    for r0 in range(0, n, int(chunk)):
        rows = torch.arange(r0, min(n, r0 + int(chunk)))
        dist = torch.cdist(pos[rows], pos)  # [R, N]
        scale = c_t if c_t.dim() == 0 else c_t[groups[rows]][:, groups]  # type: ignore[index]
        prob = scale * torch.exp(-(dist / float(lam)) ** 2)
        hit = torch.rand(rows.numel(), n, generator=generator, dtype=torch.float64) < prob
        if not autapses:
            hit[torch.arange(rows.numel()), rows] = False
        i, j = hit.nonzero(as_tuple=True)
        pres.append(rows[i])
        posts.append(j)
    return from_edges(torch.cat(pres), torch.cat(posts), n, w=w, delay=delay, dtype=dtype)
