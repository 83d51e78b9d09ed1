"""Name → component registries shared by every plug-in family.

A registry maps a short name (``"lif"``, ``"atan"``, ``"poisson"``) to a class or factory. It feeds
``spikeforge list``, the docs and the contract tests, so a component is tested the moment it is
registered. Registries hold *types and factories*, never live instances.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T")


class UnknownNameError(ValueError, KeyError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """A named collection of components of one kind.

    Example:
        >>> NEURONS = Registry("neuron")
        >>> @NEURONS.register("lif")
        ... class LIF: ...
        >>> NEURONS.get("lif") is LIF
        True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` with optional metadata."""
        key = name.lower()

        def deco(obj: T) -> T:
            if key in self._items and self._items[key] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[key] = obj
            self._meta[key] = dict(meta)
            return obj

        return deco

    def get(self, name: str) -> T:
        """Return the component registered as ``name`` (case-insensitive)."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a str, got {type(name).__name__}")
        try:
            return self._items[name.lower()]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}"
            ) from None

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Instantiate (or call) the component registered as ``name``."""
        factory = self.get(name)
        return factory(*args, **kwargs)  # type: ignore[operator]

    def meta(self, name: str) -> dict[str, Any]:
        """Metadata given at registration."""
        self.get(name)
        return dict(self._meta[name.lower()])

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
