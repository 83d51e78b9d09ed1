"""Load a delay-task preset dataclass (``DelayTaskConfig``, ``MotionConfig``) from a YAML file.

The file is a mapping of the dataclass's field names; the nested ``train:`` mapping fills its
training :class:`~spikeforge.tasks.delays._train.TrainConfig`. Keys left out keep the dataclass
defaults; each value is converted to its field's type (lists to tuples); an unknown key fails with
a :class:`~spikeforge.config.ConfigError` naming it and listing the valid keys.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any, TypeVar

from ...config import ConfigError, _convert, read_yaml_mapping

__all__ = ["from_mapping", "load_task_config"]

C = TypeVar("C")


def from_mapping(cls: type[C], values: dict[str, Any], where: str = "") -> C:
    """``cls(**values)`` with nested dataclass fields built from nested mappings (recursively)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping of key: value, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown key(s) {unknown}; valid keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        hint = hints[key]
        name = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_mapping(typing.cast(type, hint), value if value is not None else {}, name)
        else:
            kwargs[key] = _convert(name, value, hint)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def load_task_config(path: str | os.PathLike[str], cls: type[C]) -> C:
    """The ``cls`` instance described by the YAML file ``path``."""
    loaded = read_yaml_mapping(path)
    try:
        return from_mapping(cls, loaded)
    except ConfigError as e:
        raise ConfigError(f"config file {str(Path(path))!r}: {e}") from None
