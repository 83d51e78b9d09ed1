"""A converted conv net runs its IF + AvgPool2d pairs through the fused kernel, with the same bits.

Reference: the same modules in a plain ``nn.Sequential`` (each layer called on its own: the IF
neuron, then the pooling), whose values the kernel tests hold to the torch reference.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.convert import QCFS, convert
from spikeforge.kernels import available_backends
from spikeforge.layers import SpikingSequential
from spikeforge.neurons import IF

needs_cpp = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")


def _ann(act: type[nn.Module]) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), act(), nn.AvgPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), act(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 3)).eval()


@needs_cpp
@pytest.mark.parametrize("act", [nn.ReLU, QCFS], ids=["relu", "qcfs"])
def test_converted_conv_net_runs_fused_with_same_bits(act, lif_pool_runs, gen):
    calib = torch.rand(16, 2, 9, 9, generator=gen)  # odd H, W: floor-mode pooling drops a row and column
    snn = convert(_ann(act), calib, method="max" if act is nn.ReLU else "qcfs")
    assert isinstance(snn, SpikingSequential)
    assert sum(isinstance(m, IF) for m in snn) == 2
    plain = nn.Sequential(*copy.deepcopy(list(snn)))  # the same modules, one call each
    xs = sf.encoders.direct_encode(torch.rand(3, 2, 9, 9, generator=gen), 12).requires_grad_()  # [T, B, 2, 9, 9]
    w = torch.linspace(-1, 1, 3, dtype=torch.float64).float()

    ys = snn(xs)
    assert len(lif_pool_runs) == 2  # both IF + pool pairs ran fused
    (gx,) = torch.autograd.grad((ys * w).sum(), xs)
    ys_ref = plain(xs)
    (gx_ref,) = torch.autograd.grad((ys_ref * w).sum(), xs)
    assert len(lif_pool_runs) == 2
    assert ys.abs().sum() > 0 and gx.abs().sum() > 0
    assert torch.equal(ys, ys_ref) and torch.equal(gx, gx_ref)
    y1, states = snn.run(xs[:5])  # streaming chunk by chunk gives the same outputs
    y2, _ = snn.run(xs[5:], states)
    assert torch.equal(torch.cat([y1, y2]), ys)


def test_converted_net_keeps_sequential_indexing_and_state_dict_keys(gen):
    ann = _ann(nn.ReLU)
    snn = convert(ann, torch.rand(8, 2, 8, 8, generator=gen))
    plain = nn.Sequential(*list(snn))
    assert list(snn.state_dict()) == list(plain.state_dict())
    assert isinstance(snn[1], IF) and isinstance(snn[:2], SpikingSequential) and len(snn[:2]) == 2
    with pytest.warns(UserWarning, match="subtract"):  # NIR's IF resets to v_reset; kept in metadata
        graph = sf.to_nir(snn, torch.rand(2, 1, 2, 8, 8, generator=gen))
    names = {str(i) for i in range(len(snn))}
    assert names <= set(graph.nodes)  # the container is inlined: one NIR node per layer
