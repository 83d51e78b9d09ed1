"""The model table printed by ``spikeforge list models``."""

from __future__ import annotations

import torch

from ._factory import MODELS

__all__ = ["count_params", "model_table", "zoo_param_count"]


def count_params(model: torch.nn.Module) -> int:
    """Trainable and frozen parameters (BN running statistics are buffers and not counted)."""
    return sum(p.numel() for p in model.parameters())


def zoo_param_count(name: str) -> int:
    """Parameters of the zoo model ``name`` built with its defaults on the ``meta`` device
    (no memory, no initialisation), plus the registered ``unused`` parameters of the released
    code (modules it builds but never calls), i.e. the number comparable to the published one."""
    meta = MODELS.meta(name)
    if meta.get("kind") != "zoo":
        raise ValueError(f"model {name!r} is sized by the data (kind {meta.get('kind')!r}), it has no fixed count")
    with torch.device("meta"):
        model = MODELS.create(name)
    return count_params(model) + int(meta.get("unused", 0))


def model_table() -> str:
    """One line per registered model: name, family, exact parameter count, source."""
    rows = [("name", "family", "params", "source")]
    for name in MODELS.names():
        meta = MODELS.meta(name)
        if meta.get("kind") == "zoo":
            params = meta["params"] if meta.get("params") is not None else zoo_param_count(name)
            rows.append((name, str(meta["family"]), str(params), str(meta["source"])))
        else:
            rows.append((name, str(meta.get("family", "mlp")), "sized by the data", "spikeforge"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows)
