"""Run configuration: one frozen dataclass, loaded from YAML and ``--set key=value`` overrides.

Unknown keys fail with the list of valid keys; values are converted from the field's annotation;
every value is validated when the config is built (ranges, finiteness and registry names), so a
mistake fails before any data is loaded or any epoch is trained, with an error naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["TrainConfig", "ConfigError", "load_config", "read_yaml_mapping"]


class ConfigError(ValueError):
    """Invalid configuration: unknown key, wrong type or out-of-range value."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``spikeforge train`` needs; defaults train the embedded digits model."""

    # data
    data: str = "digits"  # any name in spikeforge.data.DATASETS
    encoder: str = "direct"  # any name in spikeforge.encoders.ENCODERS (static datasets only)
    steps: int = 16  # time steps T for static data
    root: str | None = None  # folder with the dataset's files (file-based datasets, e.g. shd); None: ~/.cache
    download: bool = False  # fetch missing files from the dataset's source URL (checksum-verified), if it has one
    # model
    model: str = "mlp"  # any name in spikeforge.models.MODELS
    attention: str | None = None  # zoo transformers: ssa | sdsa | softmax | random_qk; None: the model's own
    hidden: tuple[int, ...] = (256,)  # hidden layer widths
    neuron: str = "lif"  # any spiking name in spikeforge.neurons.NEURONS or SEQUENCE_NEURONS (psn, hdlif)
    surrogate: str = "atan"  # any name in spikeforge.surrogate.SURROGATES
    surrogate_alpha: float | None = None  # sharpness α of the surrogate (those with an alpha field); None: its default
    # reset, tau_mem, dt: null (unset) means the default; a set value is honoured or refused, never ignored
    reset: str | None = None  # subtract | value | zero | none; null: subtract (PSN, HD-LIF: their own)
    tau_mem: float | None = None  # membrane time constant [s]; null: 5e-3 (HD-LIF: 2 dt, STEP's tau = 2)
    tau_out: float = 10e-3  # readout (LI) time constant [s]
    dt: float | None = None  # integration step [s] of the hidden neurons and the readout; null: 1e-3
    learn_tau: bool = False  # train per-neuron membrane time constants
    dropout: float = 0.0  # dropout on hidden spikes (mask shared over time)
    delay_taps: int = 25  # model dcls: taps K per delay layer (delays 0 … K-1 steps)
    channel_pool: int = 1  # model dcls: sum groups of this many adjacent input channels (SHD recipe: 5, 700 -> 140)
    # training
    loss: str = "ce_membrane"  # any name in spikeforge.learning.LOSSES
    epochs: int = 40
    batch_size: int = 64
    lr: float = 5e-3
    weight_decay: float = 0.0
    scheduler: str = "cosine"  # cosine (per epoch) | one_cycle (per step; lr, lr_positions are the peaks) | none
    rate_reg: float = 0.0  # weight of the firing-rate regularizer (band 0..0.5)
    lr_positions: float = 0.1  # learning rate of delay positions (models with delay layers; DCLS: 100 × lr)
    val_fraction: float = 0.0  # hold out this fraction of the training split for validation (0: no validation)
    train_mode: str = "bptt"  # any name in spikeforge.learning.TRAINING_MODES: bptt | sltt | sltt-k | ottt
    online_k: int = 2  # sltt-k: steps backpropagated per batch
    ottt_decay: float | None = None  # ottt: trace decay per step; None: the hidden LIF's leak 1 - dt/tau_mem
    pretrain_epochs: int = 0  # > 0: first train the one-step ANN twin (shared weights, sharpening ramp) this long
    iir_steps: tuple[int, ...] = ()  # IIR: train at each T in turn (e.g. [5, 4, 3, 2, 1]), epochs per stage
    seed: int = 0
    # output
    out_dir: str = "runs/default"  # checkpoint, report, history.csv and plots go here
    progress: bool = True  # show progress bars
    checkpoint_every_steps: int = 0  # also checkpoint every this many optimizer steps inside an epoch (0: per epoch)
    log: str = "csv"  # csv: history in report.json + history.csv | tensorboard: also TensorBoard events

    # Keys that say where files are or how a run is watched or saved, not what is trained: a
    # checkpoint resumes under other values of these (a moved run directory, another data folder,
    # another checkpoint interval).
    # ``epochs`` may grow too (the run is extended); see spikeforge.experiment.
    LOCATION_KEYS: ClassVar[frozenset[str]] = frozenset({"root", "download", "out_dir", "progress", "log",
                                                          "checkpoint_every_steps"})
    # What an unset (None) reset / tau_mem / dt means for a step-by-step neuron (and dt for the readout):
    # the plain defaults these keys had before they could be unset, which older saved configs hold.
    NEURON_DEFAULTS: ClassVar[dict[str, Any]] = {"reset": "subtract", "tau_mem": 5e-3, "dt": 1e-3}

    def __post_init__(self) -> None:
        floats = ("tau_mem", "tau_out", "dt", "lr", "weight_decay", "rate_reg", "dropout", "lr_positions",
                  "val_fraction")
        checks: list[tuple[str, bool, str]] = [(k, getattr(self, k) is None or math.isfinite(getattr(self, k)),
                                                "must be a finite number") for k in floats]
        checks += [
            ("steps", self.steps >= 1, "must be >= 1"),
            ("hidden", len(self.hidden) >= 1, "must list at least one hidden layer width (e.g. hidden=[256])"),
            ("hidden", all(h >= 1 for h in self.hidden), "widths must be >= 1"),
            ("tau_mem", self.tau_mem is None or self.tau_mem > 0, "must be > 0 seconds (or null)"),
            ("tau_out", self.tau_out > 0, "must be > 0 seconds"),
            ("dt", self.dt is None or self.dt > 0, "must be > 0 seconds (or null)"),
            ("dropout", 0.0 <= self.dropout < 1.0, "must be in [0, 1)"),
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("lr", self.lr > 0, "must be > 0"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("rate_reg", self.rate_reg >= 0, "must be >= 0"),
            ("seed", self.seed >= 0, "must be >= 0"),
            ("delay_taps", self.delay_taps >= 1, "must be >= 1"),
            ("channel_pool", self.channel_pool >= 1, "must be >= 1"),
            ("lr_positions", self.lr_positions > 0, "must be > 0"),
            ("val_fraction", 0.0 <= self.val_fraction < 1.0, "must be in [0, 1)"),
            ("online_k", self.online_k >= 1, "must be >= 1"),
            ("checkpoint_every_steps", self.checkpoint_every_steps >= 0, "must be >= 0 (0: only after each epoch)"),
            ("pretrain_epochs", self.pretrain_epochs >= 0, "must be >= 0"),
            ("iir_steps", all(t >= 1 for t in self.iir_steps), "must list time steps >= 1 (e.g. [5, 4, 3, 2, 1])"),
            ("ottt_decay", self.ottt_decay is None or 0.0 <= self.ottt_decay <= 1.0,
             "must be the leak per step in [0, 1] (or null)"),
            ("rate_reg", self.rate_reg == 0 or self.train_mode == "bptt",
             "must be 0 with an online train_mode (its hooks do not see per-step runs)"),
            ("dropout", self.dropout == 0 or self.train_mode == "bptt",
             "must be 0 with an online train_mode (a per-step forward would redraw the time-shared mask)"),
            ("scheduler", self.scheduler in ("cosine", "one_cycle", "none"), "must be 'cosine', 'one_cycle' or 'none'"),
            ("log", self.log in ("csv", "tensorboard"), "must be 'csv' or 'tensorboard'"),
            ("out_dir", bool(self.out_dir.strip()), "must name a folder"),
            ("root", self.root is None or bool(self.root.strip()), "must name a folder (or be null)"),
            ("surrogate_alpha", self.surrogate_alpha is None
             or (math.isfinite(self.surrogate_alpha) and self.surrogate_alpha > 0), "must be > 0 (or null)"),
        ]
        for key, ok, msg in checks:
            if not ok:
                raise ConfigError(f"config key {key!r}: {key} {msg}, got {getattr(self, key)!r} "
                                  f"(config: {self.short()})")
        self._check_names()

    def _check_names(self) -> None:
        """Every name-valued key must be registered (local imports: the registries sit below config)."""
        from .data import DATASETS
        from .encoders import ENCODERS
        from .learning import LOSSES, TRAINING_MODES
        from .models import MODELS
        from .neurons import RESETS, is_sequence_neuron, neuron_class
        from .surrogate import SURROGATES

        registries: dict[str, Any] = {"data": DATASETS, "encoder": ENCODERS, "model": MODELS,
                                      "surrogate": SURROGATES, "reset": RESETS, "loss": LOSSES,
                                      "train_mode": TRAINING_MODES}
        for key, registry in registries.items():
            if key == "reset" and self.reset is None:  # unset
                continue
            try:
                registry.get(getattr(self, key))
            except (KeyError, TypeError) as e:
                raise ConfigError(f"config key {key!r}: {e}") from None
        try:  # NEURONS or SEQUENCE_NEURONS
            neuron = neuron_class(self.neuron)
        except (KeyError, TypeError) as e:
            raise ConfigError(f"config key 'neuron': {e}") from None
        if self.surrogate_alpha is not None:
            with_alpha = [n for n in SURROGATES.names()
                          if "alpha" in getattr(SURROGATES.get(n), "__dataclass_fields__", {})]
            if self.surrogate.lower() not in with_alpha:
                raise ConfigError(f"config key 'surrogate_alpha': surrogate {self.surrogate!r} has no alpha; "
                                  f"surrogates with one: {', '.join(with_alpha)}")
        if is_sequence_neuron(neuron):
            self._check_sequence_neuron(DATASETS, MODELS, neuron)
        elif not getattr(neuron, "spiking", True):
            raise ConfigError(f"config key 'neuron': hidden neuron must spike; {self.neuron!r} is a non-spiking "
                              "readout")
        elif self.learn_tau and "tau_mem" not in neuron.params_cls._fields:
            raise ConfigError(f"config key 'learn_tau': neuron {self.neuron!r} has no tau_mem to learn")
        self._check_unread_keys(DATASETS, MODELS)
        dt = self.resolved("dt")
        if "tau_out" not in self.unread_keys(DATASETS, MODELS) and dt > self.tau_out:  # mlp, rsnn: LI readout
            raise ConfigError(f"config key 'tau_out': the LI readout steps by forward Euler, stable only for "
                              f"tau_out >= dt; got tau_out={self.tau_out:g} s with dt={dt:g} s: raise tau_out "
                              f"or lower dt (config: {self.short()})")
        if self.attention is not None:
            from .models.transformers.zoo import attention_overrides
            try:
                attention_overrides(self.model, self.attention)
            except ValueError as e:
                raise ConfigError(f"config key 'attention': {e}") from None

    def unread_keys(self, datasets: Any = None, models: Any = None) -> dict[str, str]:
        """Keys this config's model and data set do not read, each with the reason: a zoo model builds
        its own widths, neurons, constants and head from its named configuration; ``dcls`` builds its
        recipe's LIF (β from tau_mem and dt) and readout when ``neuron`` is ``lif``;
        only ``dcls`` has delay taps and channel pooling; temporal data brings its own spikes and T."""
        if datasets is None or models is None:
            from .data import DATASETS
            from .models import MODELS
            datasets, models = DATASETS, MODELS
        temporal = datasets.meta(self.data).get("kind") == "temporal"
        why: dict[str, str] = {}
        if models.meta(self.model).get("kind") == "zoo":
            zoo = f"zoo model {self.model!r} builds its layers from its own named configuration"
            why.update({"hidden": f"{zoo} (its widths)", "dropout": f"{zoo} (no dropout on hidden spikes)",
                        "reset": f"{zoo} (hard reset to 0 at every neuron site)",
                        "tau_mem": f"{zoo} (its neurons' own time constants; no layer reads tau_mem)",
                        "dt": f"{zoo} (its neurons' own time step; no neuron or readout reads dt)",
                        "learn_tau": f"{zoo} (fixed time constants)",
                        "tau_out": f"{zoo} (a Linear head, no LI readout)",
                        "encoder": f"{zoo} (it reads the image itself at every one of its T steps)"})
        if self.model != "dcls":
            why.update({k: f"only model 'dcls' has delay layers, not {self.model!r}"
                        for k in ("delay_taps", "channel_pool")})
        elif self.neuron == "lif":
            recipe = "model 'dcls' with neuron 'lif' builds its recipe's LIF and LI readout"
            why.update({"learn_tau": f"{recipe} (β fixed from tau_mem, dt)",
                        "tau_out": f"{recipe} (the readout's β is the hidden LIF's, 1 - dt/tau_mem)"})
        else:
            why["tau_out"] = "model 'dcls' has no LI readout of its own constant (its β is 1 - dt/tau_mem)"
        if temporal:
            why.setdefault("encoder", f"temporal data set {self.data!r} brings its own spikes")
            if models.meta(self.model).get("kind") != "zoo":
                why.setdefault("steps", f"temporal data set {self.data!r} brings its own T")
        return why

    def _check_unread_keys(self, datasets: Any, models: Any) -> None:
        """A set key that the model or data never read is refused (it would be silently ignored): an
        unset-able key (reset, tau_mem, dt) when set, any other when it differs from its default."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for key, reason in self.unread_keys(datasets, models).items():
            value, default = getattr(self, key), defaults[key]
            if value is not None and value != default:
                leave = "unset" if default is None else f"at its default ({default!r})"
                raise ConfigError(f"config key {key!r} is set to {value!r}, but nothing reads it: {reason}; "
                                  f"leave {key} {leave} (config: {self.short()})")

    def _check_sequence_neuron(self, datasets: Any, models: Any, neuron: Any) -> None:
        """A sequence neuron (PSN, HD-LIF: non-causal, built for a fixed T) needs T at build time and
        the whole sequence at once: static data (T = ``steps``), BPTT, one T, a model that builds it."""
        why = f"neuron {self.neuron!r} is a sequence neuron (non-causal, built for a fixed T)"
        problems = []
        if datasets.meta(self.data).get("kind") == "temporal":
            problems.append(("data", f"temporal data set {self.data!r} brings its own T, unknown when the model "
                                     "is built; use static data (T = steps)"))
        if self.iir_steps:
            problems.append(("iir_steps", "training at several T needs a neuron that runs any T"))
        if self.train_mode != "bptt":
            problems.append(("train_mode", f"{self.train_mode!r} runs the network step by step; use bptt"))
        if self.learn_tau:
            problems.append(("learn_tau", "it has no tau_mem to learn"))
        problems += self._sequence_settings(datasets, models, neuron)
        meta = models.meta(self.model)
        if self.model != "mlp" and meta.get("kind") != "zoo":
            problems.append(("model", f"model {self.model!r} runs its neurons step by step or builds its own; "
                                      "use mlp or a zoo model"))
        if problems:
            key, msg = problems[0]
            raise ConfigError(f"config key {key!r}: {why}: {msg} (config: {self.short()})")

    def _sequence_settings(self, datasets: Any, models: Any, neuron: Any) -> list[tuple[str, str]]:
        """``(key, why)`` for each set reset / tau_mem / dt the sequence neuron ``neuron`` cannot honour:
        one it lacks (its ``refused_settings``) or an invalid value of one it maps (``setting_kwargs``:
        HD-LIF's tau = tau_mem / dt steps). A key the model does not read at all (a zoo model's tau_mem
        and dt) is refused by :meth:`_check_unread_keys`, as for every neuron."""
        problems = [(key, f"{reason}; leave {key} unset") for key, reason in neuron.refused_settings.items()
                    if getattr(self, key) is not None]
        if (self.tau_mem is not None and "tau_mem" not in neuron.refused_settings
                and "tau_mem" not in self.unread_keys(datasets, models)):
            try:
                neuron.setting_kwargs(tau_mem=self.tau_mem, dt=self.resolved("dt"))
            except ValueError as e:
                problems.append(("tau_mem", str(e)))
        return problems

    def resolved(self, key: str) -> Any:
        """``reset``, ``tau_mem`` or ``dt`` as a step-by-step neuron (and, for ``dt``, the readout) uses it:
        the set value, or :attr:`NEURON_DEFAULTS` ``[key]`` when unset. A sequence neuron resolves an
        unset value to its own default instead (:func:`~spikeforge.neurons.build_sequence_neuron`).

        Example:
            >>> TrainConfig().resolved("tau_mem"), TrainConfig(tau_mem=0.02).resolved("tau_mem")
            (0.005, 0.02)
        """
        value = getattr(self, key)
        return self.NEURON_DEFAULTS[key] if value is None else value

    def short(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                         if getattr(self, f.name) != f.default)

    def differing_keys(self, saved: dict[str, Any], ignore: frozenset[str] | set[str] = frozenset()) -> list[str]:
        """Keys (outside ``ignore``) whose value in ``saved`` (a :meth:`to_dict` of another run, a
        missing key meaning its default) differs from this config's, sorted. An unset reset / tau_mem /
        dt equals its resolved value where that does not depend on the neuron (:func:`_comparable`), and
        an old saved dict is read as its run acted (:func:`_upgrade_saved`)."""
        defaults = type(self)().to_dict()
        current, other = _comparable(self.to_dict()), _comparable({**defaults, **_upgrade_saved(saved)})
        return sorted(k for k in current if k not in ignore and other[k] != current[k])

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

    @classmethod
    def from_saved(cls, values: dict[str, Any]) -> TrainConfig:
        """The config of a saved run (a checkpoint's or a ``report.json``'s :meth:`to_dict`), also one
        saved before reset / tau_mem / dt could be unset (:func:`_upgrade_saved`). User input goes
        through :meth:`from_dict`, which refuses a setting the neuron cannot honour."""
        return cls.from_dict(_upgrade_saved(values))

    def replace(self, **values: Any) -> TrainConfig:
        merged = {**self.to_dict(), **values}
        return type(self).from_dict(merged)


def _is_sequence_neuron_name(name: Any) -> bool:
    from .neurons import SEQUENCE_NEURONS

    return isinstance(name, str) and name in SEQUENCE_NEURONS


def _upgrade_saved(values: dict[str, Any]) -> dict[str, Any]:
    """A saved config dict as its run acted, in today's meaning of reset / tau_mem / dt.

    Before these keys could be unset, :meth:`TrainConfig.to_dict` wrote a value for each (``subtract``,
    ``5e-3``, ``1e-3`` unless set) and a sequence neuron ignored them (the mlp's readout read ``dt``; a
    zoo model read none). Today no sequence neuron's config holds a reset (none honours one, so a set
    reset is refused), so a reset saved beside a sequence neuron marks such an old dict: the values its
    run ignored become unset, which is what they were. Any other dict is returned unchanged: a
    step-by-step neuron resolves an unset value to exactly the old default.
    """
    if values.get("reset") is None or not _is_sequence_neuron_name(values.get("neuron")):
        return values
    from .models import MODELS

    ignored = ["reset", "tau_mem"]
    model = values.get("model", "mlp")
    if model in MODELS and MODELS.meta(model).get("kind") == "zoo":
        ignored.append("dt")
    return {**values, **dict.fromkeys(ignored)}


def _comparable(values: dict[str, Any]) -> dict[str, Any]:
    """A full config dict with each unset reset / tau_mem / dt replaced by its resolved value where that
    does not depend on the neuron (a step-by-step neuron's three; ``dt``, which every readout reads), so
    a run saved with the old explicit defaults compares equal to the same run with them unset."""
    out = dict(values)
    sequence = _is_sequence_neuron_name(out.get("neuron"))
    for key, default in TrainConfig.NEURON_DEFAULTS.items():
        if out.get(key) is None and (key == "dt" or not sequence):
            out[key] = default
    return out


# Optional keys whose values include the string "none": ``reset: none`` is the registered no-reset
# mode, not "unset" (that is null).
_NONE_IS_A_NAME = frozenset({"reset"})


def _convert(key: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint):  # X | None
        unset = ("", "null") if key in _NONE_IS_A_NAME else ("", "none", "null")
        if value is None or (isinstance(value, str) and value.strip().lower() in unset):
            return None
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(key, value, inner)
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
        values.update(read_yaml_mapping(path))
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        k, v = item.split("=", 1)
        values[k.strip()] = _parse_scalar(v.strip())
    return TrainConfig.from_dict(values)


def read_yaml_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``key: value`` mapping of the YAML file ``path`` (``{}`` for an empty file), or a
    :class:`ConfigError` naming the file: missing, not YAML, or not a mapping."""
    import yaml

    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"config file {str(p)!r} is a folder, not a YAML file")
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        loaded = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {e}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping of key: value")
    return loaded


def _parse_scalar(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
