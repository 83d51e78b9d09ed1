"""Online training through time: SLTT, SLTT-K and OTTT (memory that does not grow with ``T``).

See ``docs/online_training.md`` for when to pick which mode.
"""

from .memory import SavedBytes as SavedBytes
from .sltt import OnlineResult as OnlineResult
from .sltt import ottt_backward as ottt_backward
from .sltt import sltt_backward as sltt_backward

__all__ = ["OnlineResult", "SavedBytes", "ottt_backward", "sltt_backward"]
