"""One call for the trainer's report: total synaptic operations and energy per sample."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from .energy import FP32_45NM, EnergyModel, MemoryAwareEnergy
from .profile import profile

__all__ = ["summarize"]


@torch.no_grad()
def summarize(
    model: nn.Module,
    x: Tensor,
    *,
    models: Iterable[EnergyModel] = (FP32_45NM, MemoryAwareEnergy()),
    batch_size: int | None = None,
) -> dict[str, float]:
    """Profile one forward pass of ``model`` on ``x`` (eval mode, no gradients) and return the
    per-sample totals as flat floats, for printing and ``report.json``.

    Keys: ``synops`` (effective MACs + ACs), ``eff_MACs``, ``eff_ACs``, ``dense_synops``,
    ``act_sparsity`` (NaN if the model has no activation layer), ``mem_updates``, then
    ``energy_<model>_<unit>`` for each energy model (by default ``energy_45nm_fp32_pJ`` and
    ``energy_memory_aware_pJ``).

    Example:
        >>> summarize(net, xs)["synops"] > 0
        True
    """
    models = tuple(models)
    was_training = model.training
    model.eval()
    try:
        with profile(model, batch_size=batch_size) as prof:
            model(x)
    finally:
        model.train(was_training)
    syn = prof.synops()
    try:
        act = prof.activation_sparsity()
    except ValueError:
        act = float("nan")
    out = {
        "synops": syn["Effective_MACs"] + syn["Effective_ACs"],
        "eff_MACs": syn["Effective_MACs"],
        "eff_ACs": syn["Effective_ACs"],
        "dense_synops": syn["Dense"],
        "act_sparsity": act,
        "mem_updates": prof.membrane_updates(),
    }
    for m in models:
        out[f"energy_{m.name}_{m.unit}"] = prof.energy(m).total
    return {k: float(v) for k, v in out.items()}
