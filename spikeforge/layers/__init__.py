"""Time-major building blocks: time folding, sequence norms, shared-mask dropout, recurrence,
and a state-threading container."""

from .dropout import SequenceDropout as SequenceDropout
from .dropout import sequence_dropout as sequence_dropout
from .norm import BNTT as BNTT
from .norm import TDBatchNorm as TDBatchNorm
from .norm import td_batch_norm as td_batch_norm
from .recurrent import RecurrentSpiking as RecurrentSpiking
from .recurrent import RecurrentState as RecurrentState
from .sequential import SpikingSequential as SpikingSequential
from .sequential import is_stateful as is_stateful
from .time import TimeDistributed as TimeDistributed

__all__ = [
    "BNTT", "RecurrentSpiking", "RecurrentState", "SequenceDropout", "SpikingSequential",
    "TDBatchNorm", "TimeDistributed", "is_stateful", "sequence_dropout", "td_batch_norm",
]
