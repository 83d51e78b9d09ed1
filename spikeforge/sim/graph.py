r"""Sparse connectivity in compressed sparse row (CSR) form, with its transposed (CSC) index.

A :class:`SparseGraph` holds ``S`` synapses from ``n_pre`` to ``n_post`` neurons, ordered by
presynaptic neuron, so the synapses a spike of ``i`` reaches are one contiguous range:

.. math::
    \mathrm{syn}(i) = [\,\mathrm{crow}_i,\ \mathrm{crow}_{i+1}\,),\qquad
    \mathrm{post}(s) = \mathrm{col}_s,\quad w_s,\quad d_s \ (\text{delay in steps} \ge 1)

The transposed index lists, for each postsynaptic neuron ``j``, the synapses it receives
(``perm[ccol_j : ccol_{j+1}]``, CSR positions) and their presynaptic neurons (``prow``), so
potentiation on a postsynaptic spike also touches only that neuron's synapses.

The dense equivalent (``to_dense``) is ``W[n_post, n_pre]`` (``W[out, in]``, the library's convention).
Multiple synapses between the same pair are refused: a dense matrix could not represent them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["SparseGraph", "from_edges", "from_dense"]


class SparseGraph(NamedTuple):
    crow: Tensor  # [n_pre + 1] int64: synapses of pre i are crow[i]:crow[i+1]
    col: Tensor  # [S] int64: postsynaptic neuron of each synapse (sorted within a row)
    w: Tensor  # [S] float: weight of each synapse
    delay: Tensor  # [S] int64: delay in steps (>= 1; a spike at step t arrives at step t + delay)
    ccol: Tensor  # [n_post + 1] int64: synapses onto post j are perm[ccol[j]:ccol[j+1]]
    perm: Tensor  # [S] int64: CSR positions in post-major order
    prow: Tensor  # [S] int64: presynaptic neuron of perm[k]
    n_post: int

    @property
    def n_pre(self) -> int:
        return self.crow.numel() - 1

    @property
    def n_synapses(self) -> int:
        return self.col.numel()

    @property
    def max_delay(self) -> int:
        return int(self.delay.max()) if self.delay.numel() else 1

    def out_degree(self) -> Tensor:
        """Synapses leaving each presynaptic neuron, ``[n_pre]``."""
        return self.crow[1:] - self.crow[:-1]

    def in_degree(self) -> Tensor:
        """Synapses arriving at each postsynaptic neuron, ``[n_post]``."""
        return self.ccol[1:] - self.ccol[:-1]

    def pre_index(self) -> Tensor:
        """Presynaptic neuron of each synapse in CSR order, ``[S]``."""
        return torch.repeat_interleave(torch.arange(self.n_pre, device=self.crow.device), self.out_degree())

    def edges(self) -> tuple[Tensor, Tensor]:
        """``(pre, post)`` of every synapse in CSR order."""
        return self.pre_index(), self.col

    def to_dense(self, w: Tensor | None = None) -> Tensor:
        """Dense ``W[n_post, n_pre]`` of the weights ``w`` (default: the graph's own)."""
        w = self.w if w is None else w
        dense = torch.zeros(self.n_post, self.n_pre, dtype=w.dtype, device=w.device)
        dense[self.col, self.pre_index()] = w
        return dense

    def mask(self) -> Tensor:
        """Dense 0/1 connectivity ``[n_post, n_pre]`` (float), e.g. for a masked dense reference."""
        return self.to_dense(torch.ones_like(self.w))

    def with_weights(self, w: Tensor | float) -> SparseGraph:
        """The same structure with new weights (a scalar or ``[S]`` in CSR order)."""
        w_t = (w if isinstance(w, Tensor) else torch.tensor(float(w), dtype=self.w.dtype)).to(self.col.device)
        w_t = w_t.expand(self.n_synapses).clone() if w_t.dim() == 0 else w_t
        _check_values("with_weights", w_t, self.delay, self.n_synapses)
        return self._replace(w=w_t)

    def with_delays(self, delay: Tensor | int) -> SparseGraph:
        """The same structure with new delays in steps (an int or ``[S]`` in CSR order)."""
        d = torch.as_tensor(delay, device=self.col.device)
        d = d.expand(self.n_synapses).clone() if d.dim() == 0 else d
        _check_values("with_delays", self.w, d, self.n_synapses)
        return self._replace(delay=d.long())


def _check_values(where: str, w: Tensor, delay: Tensor, n: int) -> None:
    if w.shape != (n,):
        raise ValueError(f"{where}: weights must be a scalar or have shape [{n}] (one per synapse), "
                         f"got {tuple(w.shape)}")
    if not w.is_floating_point():
        raise TypeError(f"{where}: weights must be floating point, got {w.dtype}")
    if n and not bool(torch.isfinite(w).all()):
        raise ValueError(f"{where}: weights must be finite (found NaN or inf)")
    if delay.shape != (n,):
        raise ValueError(f"{where}: delays must be a scalar or have shape [{n}] (one per synapse), "
                         f"got {tuple(delay.shape)}")
    if delay.is_floating_point() and n and not bool((delay == delay.round()).all()):
        raise ValueError(f"{where}: delays are whole numbers of steps, got fractional values")
    if n and int(delay.min()) < 1:
        raise ValueError(f"{where}: delays must be >= 1 step (a spike reaches its targets at the earliest "
                         f"on the next step), got a minimum of {int(delay.min())}")


def from_edges(pre: Tensor, post: Tensor, n_pre: int, n_post: int | None = None, *,
               w: Tensor | float = 1.0, delay: Tensor | int = 1, dtype: torch.dtype = torch.float32) -> SparseGraph:
    """Build a :class:`SparseGraph` from synapse lists ``pre [S]`` → ``post [S]``.

    Args:
        pre, post: Integer neuron indices of each synapse.
        n_pre, n_post: Population sizes (``n_post`` defaults to ``n_pre``: a recurrent network).
        w: Weights, a scalar or ``[S]`` in the order of ``pre``/``post``.
        delay: Delays in steps (>= 1), a scalar or ``[S]``.
        dtype: Weight dtype when ``w`` is a scalar.

    Example:
        >>> g = from_edges(torch.tensor([0, 0, 2]), torch.tensor([1, 2, 0]), 3, w=torch.tensor([.5, -1., 2.]))
        >>> g.crow.tolist(), g.col.tolist(), g.to_dense().tolist()
        ([0, 2, 2, 3], [1, 2, 0], [[0.0, 0.0, 2.0], [0.5, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    """
    n_post = n_pre if n_post is None else n_post
    for name, t in (("pre", pre), ("post", post)):
        if not isinstance(t, Tensor) or t.dim() != 1 or t.is_floating_point() or t.is_complex():
            raise ValueError(f"from_edges: {name} must be a 1-D integer tensor of neuron indices")
    if pre.shape != post.shape:
        raise ValueError(f"from_edges: pre has {pre.numel()} entries but post has {post.numel()}")
    if int(n_pre) < 1 or int(n_post) < 1:
        raise ValueError(f"from_edges: population sizes must be >= 1, got n_pre={n_pre}, n_post={n_post}")
    n = pre.numel()
    for name, t, size in (("pre", pre, n_pre), ("post", post, n_post)):
        if n and (int(t.min()) < 0 or int(t.max()) >= size):
            raise ValueError(f"from_edges: {name} indices must lie in [0, {size}), got range "
                             f"[{int(t.min())}, {int(t.max())}]")
    device = pre.device
    w_t = (w if isinstance(w, Tensor) else torch.tensor(float(w), dtype=dtype)).to(device)
    w_t = w_t.expand(n) if w_t.dim() == 0 else w_t
    d_t = torch.as_tensor(delay, device=device)
    d_t = d_t.expand(n) if d_t.dim() == 0 else d_t
    _check_values("from_edges", w_t, d_t, n)
    pre, post = pre.long(), post.long()
    key = pre * n_post + post  # row-major position; unique per (pre, post)
    key_sorted, order = torch.sort(key, stable=True)
    if n > 1 and bool((key_sorted[1:] == key_sorted[:-1]).any()):
        k = int(key_sorted[1:][key_sorted[1:] == key_sorted[:-1]][0])
        raise ValueError(f"from_edges: duplicate synapse {k // n_post} -> {k % n_post}; a pair of neurons "
                         "may be connected once (sum the weights instead)")
    pre_s, col = pre[order], post[order]
    crow = torch.zeros(n_pre + 1, dtype=torch.long, device=device)
    crow[1:] = torch.cumsum(torch.bincount(pre_s, minlength=n_pre), 0)
    # transposed index: CSR positions sorted by (post, pre)
    perm = torch.sort(col * n_pre + pre_s, stable=True)[1]
    ccol = torch.zeros(n_post + 1, dtype=torch.long, device=device)
    ccol[1:] = torch.cumsum(torch.bincount(col, minlength=n_post), 0)
    return SparseGraph(crow=crow, col=col, w=w_t[order].clone(), delay=d_t[order].long(), ccol=ccol, perm=perm,
                       prow=pre_s[perm], n_post=int(n_post))


def from_dense(w: Tensor, delay: Tensor | int = 1) -> SparseGraph:
    """Synapses at the non-zero entries of a dense ``W[n_post, n_pre]`` (``delay`` a scalar or ``[n_post, n_pre]``)."""
    if not isinstance(w, Tensor) or w.dim() != 2:
        raise ValueError(f"from_dense: expected a 2-D weight W[n_post, n_pre], got "
                         f"{tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__}")
    post, pre = torch.nonzero(w, as_tuple=True)
    d = torch.as_tensor(delay, device=w.device)
    if d.dim() == 2:
        if d.shape != w.shape:
            raise ValueError(f"from_dense: delay of shape {tuple(d.shape)} does not match W {tuple(w.shape)}")
        d = d[post, pre]
    return from_edges(pre, post, w.shape[1], w.shape[0], w=w[post, pre], delay=d)
