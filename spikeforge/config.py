"""Run configuration: one frozen dataclass, loaded from YAML and ``--set key=value`` overrides.

Unknown keys fail with the list of valid keys; values are converted from the field's annotation.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TrainConfig", "ConfigError", "load_config"]


class ConfigError(ValueError):
    """Invalid configuration: unknown key, wrong type or out-of-range value."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``spikeforge train`` needs; defaults train the embedded digits model."""

    # data
    data: str = "digits"  # any name in spikeforge.data.DATASETS
    encoder: str = "direct"  # any name in spikeforge.encoders.ENCODERS (static datasets only)
    steps: int = 16  # time steps T for static data
    # model
    model: str = "mlp"  # any name in spikeforge.models.MODELS
    hidden: tuple[int, ...] = (256,)  # hidden layer widths
    neuron: str = "lif"  # any spiking name in spikeforge.neurons.NEURONS
    surrogate: str = "atan"  # any name in spikeforge.surrogate.SURROGATES
    reset: str = "subtract"  # subtract | value | zero | none
    tau_mem: float = 5e-3  # membrane time constant [s]
    tau_out: float = 10e-3  # readout (LI) time constant [s]
    dt: float = 1e-3  # integration step [s]
    learn_tau: bool = False  # train per-neuron membrane time constants
    dropout: float = 0.0  # dropout on hidden spikes (mask shared over time)
    # training
    loss: str = "ce_membrane"  # any name in spikeforge.learning.LOSSES
    epochs: int = 40
    batch_size: int = 64
    lr: float = 5e-3
    weight_decay: float = 0.0
    scheduler: str = "cosine"  # cosine | none
    rate_reg: float = 0.0  # weight of the firing-rate regularizer (band 0..0.5)
    seed: int = 0
    # output
    out_dir: str = "runs/default"  # checkpoint, report and plots go here
    progress: bool = True  # show progress bars

    def __post_init__(self) -> None:
        checks = [
            (self.steps >= 1, "steps must be >= 1"),
            (all(h >= 1 for h in self.hidden), "hidden widths must be >= 1"),
            (self.tau_mem > 0, "tau_mem must be > 0 seconds"),
            (self.tau_out > 0, "tau_out must be > 0 seconds"),
            (self.dt > 0, "dt must be > 0 seconds"),
            (0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)"),
            (self.epochs >= 0, "epochs must be >= 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.scheduler in ("cosine", "none"), "scheduler must be 'cosine' or 'none'"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"{msg} (config: {self.short()})")

    def short(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                         if getattr(self, f.name) != f.default)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (tuples as lists) for checkpoints and JSON."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a mapping, converting each value to its field's type."""
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            raise ConfigError(f"unknown config key(s) {unknown}; valid keys: {', '.join(cls.keys())}")
        hints = typing.get_type_hints(cls)
        return cls(**{k: _convert(k, v, hints[k]) for k, v in values.items()})

    def replace(self, **values: Any) -> TrainConfig:
        merged = {**self.to_dict(), **values}
        return type(self).from_dict(merged)


def _convert(key: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
                return value.lower() in ("true", "1", "yes", "on")
            raise ValueError(f"not a boolean: {value!r}")
        if hint in (int, float, str):
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(f"not an integer: {value!r}")
            if hint in (int, float) and isinstance(value, bool):
                raise ValueError(f"not a number: {value!r}")
            return hint(value)
        if origin is tuple:
            (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
            if isinstance(value, str):
                value = [v for v in value.replace("(", "").replace(")", "").split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                value = [value]
            return tuple(item(v) for v in value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config key {key!r}: cannot convert {value!r} to {hint}: {e}") from None
    raise ConfigError(f"config key {key!r}: unsupported type {hint}")  # pragma: no cover


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults ← YAML file ← ``key=value`` overrides, validated against :class:`TrainConfig`."""
    values: dict[str, Any] = {}
    if path is not None:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {str(p)!r} is not valid YAML: {e}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {str(p)!r} must hold a mapping of key: value")
        values.update(loaded)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        k, v = item.split("=", 1)
        values[k.strip()] = _parse_scalar(v.strip())
    return TrainConfig.from_dict(values)


def _parse_scalar(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
