"""Dynamic Confidence on a zoo spiking transformer: the transformer path of
``tools/dynamic_confidence_seeds.py`` (its ``sweep``) checked against a hand count (issue 16).

The tool's SynOps come from re-running each exit group on its prefix ``xs[:t*]`` under the profiler.
Here every synaptic operation is counted independently, per step and per sample, from ONE full-length
run: forward hooks read the input of every conv and of the head (binarised input ⊛ binarised weight,
summed: the NeuroBench definition, written out here) and the Q, K, V spikes of the attention, whose
two products ``Kᵀ V`` and ``Q (Kᵀ V)`` are counted in closed form (a product counts when both factors
are non-zero). A sample exiting at ``t*`` must cost exactly the sum of its first ``t*`` steps.

The tiny Spikformer is untrained; its BatchNorm statistics are set from the input batch and the SSA
scale raised to 1 so that every layer, the attention neuron included, spikes (at the released scale
0.125 the attention neuron of an untrained tiny model stays silent and its products would count ~0).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikeforge.inference import dynamic_confidence
from spikeforge.models import create_model
from spikeforge.models.transformers.attention import SpikingSelfAttention, to_heads

_spec = importlib.util.spec_from_file_location(
    "dynamic_confidence_seeds_for_transformer", Path(__file__).resolve().parents[2] / "tools" /
    "dynamic_confidence_seeds.py")
assert _spec is not None and _spec.loader is not None
dcs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dcs)

pytestmark = pytest.mark.usefixtures("one_thread")
T, B, K = 6, 8, 4


def _tiny_transformer() -> tuple[nn.Module, Tensor]:
    torch.manual_seed(0)
    model = create_model("spikformer_tiny", in_channels=1, num_classes=K, img_size=16, T=T, embed_dim=32,
                         num_heads=2, scale=1.0)
    xs = torch.rand(1, B, 1, 16, 16).expand(T, -1, -1, -1, -1).contiguous()  # [T, B, 1, 16, 16] static images
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # one train-mode pass sets the running statistics to this batch's
    with torch.no_grad():
        model.train()(xs)
    return model.eval(), xs


def _ops_per_step(model: nn.Module, xs: Tensor) -> tuple[Tensor, Tensor]:
    """Effective synaptic operations ``[T, B]`` of ``model(xs)`` per step and sample (all of them, and
    the attention products alone), counted from one full run."""
    ops = torch.zeros(T, B, dtype=torch.float64)
    attn_ops = torch.zeros(T, B, dtype=torch.float64)
    spikes: dict[str, Tensor] = {}
    handles = []

    def conv_hook(m: nn.Conv2d, args: tuple[Tensor, ...]) -> None:
        x = args[0]
        assert x.shape[0] == T * B  # TimeDistributed folds [T, B] -> [T*B]
        hit = F.conv2d((x != 0).double(), (m.weight != 0).double(), None, m.stride, m.padding, m.dilation,
                       m.groups)  # [T*B, C_out, H', W']: synapses reached by non-zero inputs
        ops.add_(hit.flatten(1).sum(1).view(T, B))  # [T*B] -> [T, B]

    def linear_hook(m: nn.Linear, args: tuple[Tensor, ...]) -> None:
        x = args[0]  # [T, B, D]
        ops.add_(((x != 0).double() @ (m.weight != 0).double().T).sum(-1))

    def keep(name: str) -> object:
        def hook(m: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
            spikes[name] = out
        return hook

    attns = [m for m in model.modules() if isinstance(m, SpikingSelfAttention)]
    assert len(attns) == 1 and attns[0].kind == "ssa" and attns[0].order == "q_kv"  # Q (Kᵀ V), as counted below
    attn = attns[0]
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_pre_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_pre_hook(linear_hook))
    for name in ("q_lif", "k_lif", "v_lif", "attn_lif"):
        handles.append(getattr(attn, name).register_forward_hook(keep(name)))
    try:
        with torch.no_grad():
            model(xs)
    finally:
        for h in handles:
            h.remove()
    q, k, v = (to_heads(spikes[n], attn.num_heads) != 0 for n in ("q_lif", "k_lif", "v_lif"))  # [T, B, h, N, d]
    qf, kf, vf = q.double(), k.double(), v.double()
    kv_ops = (kf.sum(-1) * vf.sum(-1)).sum((2, 3))  # Kᵀ V: Σ_n nnz(k_n) nnz(v_n) -> [T, B]
    kv = torch.einsum("tbhni,tbhnj->tbhij", kf, vf)  # [T, B, h, d, d] integer Kᵀ V
    q_kv_ops = torch.einsum("tbhni,tbhi->tb", qf, (kv != 0).double().sum(-1))  # Q (Kᵀ V): Σ [q ≠ 0] nnz(row)
    attn_ops += kv_ops + q_kv_ops
    assert spikes["attn_lif"].sum() > 0, "the attention neuron must spike for this test to cover its products"
    return ops + attn_ops, attn_ops


def _thresholds(outputs: Tensor) -> list[float]:
    """C_th < 1/K, quantiles of the confidences the run reaches, and 1 (check 23's ends and middle)."""
    conf = torch.softmax(outputs.double().cumsum(0) / dcs.TEMPERATURE, -1).amax(-1)  # [T, B]
    mid = [float(conf[t].quantile(0.5)) for t in (1, T // 2)]  # (step 1: no spike has reached the head yet)
    return [0.5 / K, *mid, 1.0]


def test_transformer_sweep_synops_equal_a_per_step_hand_count() -> None:
    model, xs = _tiny_transformer()
    with torch.no_grad():
        outputs = model(xs)  # [T, B, K]
    labels = outputs.sum(0).argmax(-1)  # the model's own all-T answers
    thresholds = _thresholds(outputs)
    rows = dcs.sweep(model, xs, labels, thresholds)  # raises if a check-23 property fails

    ops, attn_ops = _ops_per_step(model, xs)
    assert (attn_ops[-1] > 0).all() and (ops > attn_ops).all()  # by step T every sample's attention has products
    spent = ops.cumsum(0)  # [T, B]: a sample exiting at t* spends spent[t* - 1]
    full = float(spent[-1].mean())
    assert rows[0].synops_full == pytest.approx(full, rel=1e-12)
    steps_seen = set()
    for row, th in zip(rows, thresholds, strict=True):
        steps = dynamic_confidence(outputs, th, temperature=dcs.TEMPERATURE).steps  # [B], 1-based
        steps_seen |= set(steps.tolist())
        expected = float(spent.gather(0, (steps - 1).unsqueeze(0)).mean())
        assert row.mean_steps == pytest.approx(float(steps.double().mean()))
        assert row.synops == pytest.approx(expected, rel=1e-12), f"C_th={th}"
        assert row.synops_saved == pytest.approx(1 - expected / full, rel=1e-9, abs=1e-12)
    assert rows[0].mean_steps == 1 and rows[-1].mean_steps == T and rows[-1].synops_saved == 0
    assert len(steps_seen) >= 3  # exits spread over several steps, not only the two ends
