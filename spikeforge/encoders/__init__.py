"""Encoders (values → spike trains ``[T, B, ...]``) and decoders (``[T, B, *] → [B, *]``).

Every encoder is a pure function plus a thin registered module: ``ENCODERS.create(name, steps=T)``;
every decoder constructs with no arguments: ``DECODERS.create(name)``.
"""

from ._base import DECODERS as DECODERS
from ._base import ENCODERS as ENCODERS
from .decoders import FirstSpikeTime as FirstSpikeTime
from .decoders import MaxMembrane as MaxMembrane
from .decoders import MeanMembrane as MeanMembrane
from .decoders import SpikeCount as SpikeCount
from .decoders import first_spike_time as first_spike_time
from .decoders import max_membrane as max_membrane
from .decoders import mean_membrane as mean_membrane
from .decoders import spike_count as spike_count
from .delta import DeltaEncoder as DeltaEncoder
from .delta import delta_encode as delta_encode
from .direct import DirectEncoder as DirectEncoder
from .direct import direct_encode as direct_encode
from .latency import LatencyEncoder as LatencyEncoder
from .latency import LogLatencyEncoder as LogLatencyEncoder
from .latency import latency_encode as latency_encode
from .latency import log_latency_encode as log_latency_encode
from .latency import spikes_at as spikes_at
from .phase import PhaseEncoder as PhaseEncoder
from .phase import StepTTFSEncoder as StepTTFSEncoder
from .phase import phase_decode as phase_decode
from .phase import phase_encode as phase_encode
from .phase import step_ttfs_encode as step_ttfs_encode
from .lzc import LZCDecoder as LZCDecoder
from .lzc import LZCEncoder as LZCEncoder
from .lzc import lempel_ziv_complexity as lempel_ziv_complexity
from .population import PopulationEncoder as PopulationEncoder
from .population import gaussian_receptive_fields as gaussian_receptive_fields
from .population import population_encode as population_encode
from .rate import BernoulliEncoder as BernoulliEncoder
from .rate import PoissonEncoder as PoissonEncoder
from .rate import bernoulli_encode as bernoulli_encode
from .rate import poisson_encode as poisson_encode

__all__ = [
    "ENCODERS", "DECODERS",
    "bernoulli_encode", "poisson_encode", "latency_encode", "log_latency_encode", "spikes_at",
    "delta_encode", "direct_encode", "gaussian_receptive_fields", "population_encode",
    "BernoulliEncoder", "PoissonEncoder", "LatencyEncoder", "LogLatencyEncoder", "DeltaEncoder",
    "DirectEncoder", "PopulationEncoder", "PhaseEncoder", "StepTTFSEncoder",
    "phase_encode", "phase_decode", "step_ttfs_encode",
    "spike_count", "mean_membrane", "max_membrane", "first_spike_time",
    "SpikeCount", "MeanMembrane", "MaxMembrane", "FirstSpikeTime",
    "LZCEncoder", "LZCDecoder", "lempel_ziv_complexity",
]
