"""Equivalence with the `dcls` package's Dcls1d (test-only peer; skipped when not installed)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikeforge.layers import DelayLinear

modules = pytest.importorskip("DCLS.construct.modules")


@pytest.mark.parametrize("version, mode", [("gauss", "gauss"), ("max", "triangle")])
def test_forward_and_gradients_equal_dcls1d(version: str, mode: str) -> None:
    torch.manual_seed(0)
    K, n_in, n_out, T, B = 7, 5, 4, 30, 3
    ours = DelayLinear(n_in, n_out, K=K, sig=1.3, per_synapse_sigma=True).train()
    ours.set_mode(mode)
    with torch.no_grad():
        ours.positions.uniform_(-3, 3)
        # "max" (triangle) widens to |SIG| + 1 and renormalizes; DCLS evaluates it at SIG = 0, our triangle
        ours.sig.uniform_(0.0, 2.0) if version == "gauss" else ours.sig.zero_()
    peer = modules.Dcls1d(n_in, n_out, kernel_count=1, dilated_kernel_size=K, bias=False, version=version)
    with torch.no_grad():
        peer.weight.copy_(ours.weight.unsqueeze(-1))  # [out, in, 1]
        peer.P.copy_(ours.positions.view(1, n_out, n_in, 1))
        peer.SIG.copy_(ours.sig.view(1, n_out, n_in, 1))
    x = torch.randn(T, B, n_in)
    y = ours(x)
    y_peer = peer(F.pad(x.permute(1, 2, 0), (K - 1, 0))).permute(2, 0, 1)  # [T, B, out]
    torch.testing.assert_close(y, y_peer, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    (y_peer * g).sum().backward()
    assert ours.weight.grad is not None and peer.weight.grad is not None and peer.P.grad is not None
    torch.testing.assert_close(ours.weight.grad, peer.weight.grad.squeeze(-1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.positions.grad, peer.P.grad.view(n_out, n_in), rtol=1e-4, atol=1e-5)
