"""HLOP: the lateral rows learn the input subspace; projected updates leave old responses unchanged (check 7)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.plasticity import HLOP


def _task_inputs(g, basis, n=2000, noise=0.01):
    """Inputs in the span of ``basis [k, N]`` plus a little isotropic noise."""
    coef = torch.randn(n, basis.shape[0], generator=g, dtype=torch.float64) * torch.linspace(3, 1, basis.shape[0],
                                                                                             dtype=torch.float64)
    return coef @ basis + noise * torch.randn(n, basis.shape[1], generator=g, dtype=torch.float64)


def _learn(hlop, x, epochs=3):
    for _ in range(epochs):
        for xb in x.split(64):
            hlop.hebbian(xb)


def test_rows_learn_the_task_subspace_and_projection_protects_it():
    g = torch.Generator().manual_seed(0)
    n = 30
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    basis_a, basis_b = q[:, :5].T, q[:, 5:9].T
    hlop = HLOP(n, lr=0.05).double()
    hlop.add_rows(5, generator=g)
    x_a = _task_inputs(g, basis_a)
    _learn(hlop, x_a)
    h = hlop.h_new
    assert float(torch.linalg.norm(h @ h.T - torch.eye(5, dtype=torch.float64))) < 0.05
    assert float(torch.linalg.norm(h.T @ h - basis_a.T @ basis_a)) < 0.05  # the span of task A
    hlop.consolidate()

    # a gradient computed on task-B data, projected, barely changes the responses to task-A inputs
    w = torch.nn.Parameter(torch.zeros(7, n, dtype=torch.float64))
    x_mixed = _task_inputs(g, torch.cat([basis_a, basis_b]), n=256)
    ((x_mixed @ w.T - torch.randn(256, 7, generator=g, dtype=torch.float64)) ** 2).sum().backward()
    unprojected = w.grad.clone()
    hlop.project_grad_(w)
    ratio = torch.linalg.norm(x_a @ w.grad.T) / torch.linalg.norm(x_a @ unprojected.T)
    assert float(ratio) < 0.05
    assert float(torch.linalg.norm(w.grad)) > 0.3 * float(torch.linalg.norm(unprojected))  # B still learns

    # new rows for task B learn B's subspace, orthogonal to the frozen A rows
    hlop.add_rows(4, generator=g)
    _learn(hlop, _task_inputs(g, torch.cat([basis_a, basis_b])))
    assert float(torch.linalg.norm(hlop.h_new @ hlop.h_old.T)) < 0.05
    assert float(torch.linalg.norm(hlop.h_new.T @ hlop.h_new - basis_b.T @ basis_b)) < 0.1


def test_errors():
    hlop = HLOP(4)
    with pytest.raises(RuntimeError, match="add_rows"):
        hlop.hebbian(torch.randn(3, 4))
    with pytest.raises(ValueError, match="cannot add"):
        hlop.add_rows(5)
