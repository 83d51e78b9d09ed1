"""QAT layers in time-major models, quantize_model, and the integer export round trip."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.quant import (
    LSQ,
    IntQuant,
    QuantConv2d,
    QuantLinear,
    StateQuant,
    TernaryQuant,
    export_quantized,
    load_quantized,
    quantize_model,
    weight_bits,
)


def _conv_snn() -> nn.Sequential:
    return nn.Sequential(
        sf.TimeDistributed(nn.Conv2d(1, 4, 3, padding=1)), sf.LIF.from_decay(0.9),  # [T, B, 4, 8, 8]
        sf.TimeDistributed(nn.Flatten()), nn.Linear(4 * 8 * 8, 10), sf.LI.from_decay(0.9),
    )


def test_quantize_model_swaps_layers_and_computes_with_quantized_weights(gen) -> None:
    net = _conv_snn()
    qnet = quantize_model(net, IntQuant(bits=4, per_channel=True))
    conv, fc = qnet[0].module, qnet[3]
    assert isinstance(conv, QuantConv2d) and isinstance(fc, QuantLinear)
    assert type(net[0].module) is nn.Conv2d  # original untouched
    assert torch.equal(conv.weight, net[0].module.weight) and conv.padding == (1, 1)
    xs = torch.rand(4, 2, 1, 8, 8, generator=gen)  # [T, B, C, H, W]
    # the same float net with its weights replaced by their 4-bit versions gives the same output
    ref = _conv_snn()
    ref.load_state_dict(net.state_dict())
    with torch.no_grad():
        ref[0].module.weight.copy_(IntQuant(4, per_channel=True).q(net[0].module.weight))
        ref[3].weight.copy_(IntQuant(4, per_channel=True).q(net[3].weight))
    out = qnet(xs)
    assert out.shape == (4, 2, 10)
    torch.testing.assert_close(out, ref(xs), rtol=0, atol=1e-6)
    assert not torch.allclose(out, net(xs), atol=1e-4)  # 4 bits changes the result
    out.sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0  # STE reaches the float weights
    assert weight_bits(qnet) == {"0.module": 4.0, "3": 4.0}


def test_skip_lsq_and_state() -> None:
    net = nn.Sequential(nn.Linear(6, 5), sf.LIF(), nn.Linear(5, 3), sf.LIF())
    q = quantize_model(net, LSQ(bits=3), skip=["2"], state=StateQuant.uniform(4))
    assert isinstance(q[0], QuantLinear) and type(q[2]) is nn.Linear
    names = [n for n, _ in q.named_parameters()]
    assert "0.weight_step" in names and q[0].weight_step.shape == (5, 1)
    assert q[1].state_quant is not None and q[3].state_quant is not None
    with pytest.raises(ValueError, match="not modules"):
        quantize_model(net, "int", skip=["7"])
    with pytest.raises(ValueError, match="no nn.Linear"):
        quantize_model(nn.Sequential(sf.LIF()), "int")
    with pytest.raises(TypeError, match="weight quantizer"):
        quantize_model(net, 4)  # type: ignore[arg-type]
    bare = quantize_model(nn.Linear(3, 2), "ternary")  # a bare layer is swapped itself
    assert isinstance(bare, QuantLinear)


def test_lsq_step_is_projected_positive(gen) -> None:
    layer = quantize_model(nn.Sequential(nn.Linear(4, 3)), LSQ(bits=2))[0]
    with torch.no_grad():
        layer.weight_step[0] = -0.01  # what an optimizer step can do to a small step
    xs = torch.rand(2, 5, 4, generator=gen)
    out = layer(xs) + layer(xs)  # twice before backward: projection must not break autograd
    out.sum().backward()
    assert float(layer.weight_step.detach().min()) > 0 and torch.isfinite(layer.weight_step.grad).all()


@pytest.mark.parametrize("quant", [IntQuant(8), IntQuant(4, symmetric=False, per_channel=True), LSQ(bits=3),
                                   TernaryQuant(), "binary", "twn"])
def test_export_round_trip(gen, quant) -> None:
    net = nn.Sequential(nn.Linear(6, 8), sf.LIF.from_decay(0.9), sf.TimeDistributed(nn.Unflatten(1, (2, 2, 2))),
                        sf.TimeDistributed(nn.Conv2d(2, 3, 1)))
    qnet = quantize_model(net, quant, state=StateQuant.threshold_centred(4))
    blob = export_quantized(qnet)
    assert blob["0.weight_int"].dtype in (torch.int8, torch.uint8)
    assert blob["1.state_levels"].shape == (16,) and float(blob["1.v_th"]) == 1.0
    # dequantized integers are the weights the QAT model computes with
    deq = (blob["0.weight_int"].float() - blob["0.weight_zero"].float()) * blob["0.weight_scale"]
    assert torch.equal(deq, qnet[0].quantized_weight().detach())
    # a fresh model (different float weights) loaded from the export computes the same
    other = quantize_model(nn.Sequential(nn.Linear(6, 8), sf.LIF.from_decay(0.9),
                                         sf.TimeDistributed(nn.Unflatten(1, (2, 2, 2))),
                                         sf.TimeDistributed(nn.Conv2d(2, 3, 1))), quant,
                           state=StateQuant.threshold_centred(4))
    loaded = load_quantized(other, blob)
    xs = torch.rand(5, 2, 6, generator=gen) * 2
    assert torch.equal(loaded(xs), qnet(xs))
    # and through a file
    buf = io.BytesIO()
    torch.save(blob, buf)
    buf.seek(0)
    assert torch.equal(load_quantized(other, torch.load(buf, weights_only=True))(xs), qnet(xs))


def test_export_errors() -> None:
    with pytest.raises(ValueError, match="no quantized layer"):
        export_quantized(nn.Sequential(nn.Linear(2, 2)))
    qnet = quantize_model(nn.Sequential(nn.Linear(2, 2)), "int")
    blob = export_quantized(qnet)
    with pytest.raises(KeyError, match="0.weight_int"):
        load_quantized(qnet, {k: v for k, v in blob.items() if k != "0.weight_int"})
    with pytest.raises(ValueError, match="does not quantize"):
        load_quantized(qnet, {**blob, "5.weight_int": blob["0.weight_int"]})
    with pytest.raises(ValueError, match="shape"):
        load_quantized(quantize_model(nn.Sequential(nn.Linear(3, 2)), "int"), blob)
    net = nn.Sequential(nn.Linear(2, 2), sf.LIF())
    blob = export_quantized(quantize_model(net, "int", state=StateQuant.uniform(4)))
    with pytest.raises(ValueError, match="state levels"):
        load_quantized(quantize_model(net, "int", state=StateQuant.threshold_centred(4)), blob)
    with pytest.raises(ValueError, match="state levels"):
        load_quantized(quantize_model(net, "int"), blob)


def test_conv1d_in_time_distributed(gen) -> None:
    net = nn.Sequential(sf.TimeDistributed(nn.Conv1d(2, 3, 3, stride=2, groups=1, bias=False)), sf.LIF())
    q = quantize_model(net, IntQuant(3, symmetric=False, per_channel=True))
    conv = q[0].module
    assert type(conv).__name__ == "QuantConv1d" and conv.stride == (2,) and conv.bias is None
    xs = torch.rand(4, 2, 2, 9, generator=gen)  # [T, B, C, L]
    ref = nn.functional.conv1d(xs.flatten(0, 1), IntQuant(3, symmetric=False, per_channel=True).q(conv.weight),
                               stride=2).unflatten(0, (4, 2))  # [T*B, 3, 4] -> [T, B, 3, 4]
    torch.testing.assert_close(q(xs), sf.LIF()(ref))
