"""Executing networks over time: memory-lean training modes."""

from .recompute import checkpoint_through_time as checkpoint_through_time
from .recompute import is_stateful as is_stateful

__all__ = ["checkpoint_through_time", "is_stateful"]
