"""Model registry and the factory used by the trainer and the CLI."""

from __future__ import annotations

from typing import Any

from torch import nn

from .._registry import Registry
from ..neurons._dynamics import EulerUnstableError

__all__ = ["MODELS", "build_model", "config_surrogate", "create_model", "list_models"]

MODELS: Registry[Any] = Registry("model")
"""Registry of model builders ``f(cfg: TrainConfig, *, in_features, num_classes, temporal) -> nn.Module``."""


def build_model(cfg: Any) -> nn.Module:
    """Build ``cfg.model`` sized for the dataset ``cfg.data`` (input shape and classes from the
    dataset registry's metadata)."""
    from ..data import DATASETS

    meta = DATASETS.meta(cfg.data)
    if MODELS.meta(cfg.model).get("kind") == "zoo":
        return _build_zoo(cfg, meta)
    missing = {"num_classes", "input_shape", "kind"} - set(meta)
    if missing:
        raise ValueError(f"dataset {cfg.data!r} lacks registry metadata {sorted(missing)} needed to size a model")
    in_features = 1
    for d in meta["input_shape"]:
        in_features *= int(d)
    try:
        return MODELS.create(cfg.model, cfg, in_features=in_features, num_classes=int(meta["num_classes"]),
                             temporal=meta["kind"] == "temporal")
    except EulerUnstableError as e:  # its advice (integrator='exp') names no config key
        raise _config_euler_error(e) from None


def _config_euler_error(e: EulerUnstableError) -> ValueError:
    """``e`` restated for a training config, which builds forward-Euler neurons and has no
    ``integrator`` key: raise ``tau_mem`` (a config key) or lower ``dt``."""
    from ..config import ConfigError

    stable = e.rule()
    tau, dt = e.shown()
    if e.name == "tau_mem":
        return ConfigError(f"config key 'tau_mem': {stable}; got tau_mem={tau} s with dt={dt} s: raise "
                           f"tau_mem to >= {dt} s or lower dt to <= {tau} s")
    return ConfigError(f"config key 'dt': {stable}; its {e.name} is {tau} s (the neuron's own, not a config "
                       f"key) and dt={dt} s: lower dt to <= {tau} s")


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model: a zoo model (``kind="zoo"``) from its named configuration plus
    constructor overrides; a data-sized model from :class:`~spikeforge.config.TrainConfig`
    defaults plus overrides."""
    from ..config import TrainConfig

    if name in MODELS and MODELS.meta(name).get("kind") == "zoo":
        return MODELS.create(name, **overrides)

    return build_model(TrainConfig.from_dict({"model": name, **overrides}))


def config_surrogate(cfg: Any) -> Any:
    """``cfg.surrogate`` as the models get it: the registry name, or, when ``cfg.surrogate_alpha`` is set,
    that surrogate with ``alpha`` replaced (``TrainConfig`` has checked that it has an ``alpha``).

    Example:
        >>> from spikeforge.config import TrainConfig
        >>> config_surrogate(TrainConfig(surrogate="atan", surrogate_alpha=5.0))
        ATan(alpha=5.0)
    """
    alpha = getattr(cfg, "surrogate_alpha", None)
    if alpha is None:
        return cfg.surrogate
    import dataclasses

    from ..surrogate import get_surrogate

    surrogate: Any = get_surrogate(cfg.surrogate)  # a frozen dataclass with an alpha field (checked by the config)
    return dataclasses.replace(surrogate, alpha=float(alpha))


def list_models() -> list[str]:
    """Names of the registered models, sorted (``spikeforge list models``)."""
    return MODELS.names()


def _build_zoo(cfg: Any, meta: dict[str, Any]) -> nn.Module:
    """A zoo model sized to an image dataset: ``in_channels``, ``img_size`` and ``num_classes``
    from the dataset's ``input_shape = (C, S, S)``, ``T = cfg.steps``, ``cfg.neuron`` / ``cfg.surrogate``;
    ``cfg.attention``, if set, through :func:`~spikeforge.models.transformers.zoo.attention_overrides`."""
    from .transformers.zoo import attention_overrides

    shape = tuple(meta.get("input_shape", ()))
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"zoo model {cfg.model!r} needs square image data with input_shape (C, S, S); "
                         f"dataset {cfg.data!r} has input_shape {shape or None}")
    extra = {} if getattr(cfg, "attention", None) is None else attention_overrides(cfg.model, cfg.attention)
    return MODELS.create(cfg.model, in_channels=int(shape[0]), img_size=int(shape[1]),
                         num_classes=int(meta["num_classes"]), T=int(cfg.steps), neuron=cfg.neuron,
                         surrogate=config_surrogate(cfg), **extra)
