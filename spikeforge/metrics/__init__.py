"""Cost metrics: NeuroBench-exact counts by hooks, energy models, reports, latency.

Example:
    >>> with profile(net) as prof:       # hooks always removed on exit
    ...     out = net(xs)                # xs: [T, B, ...]
    >>> table = prof.report()            # per-layer table + totals, per sample
    >>> path = prof.to_json("cost.json")
"""

from .compare import Comparison as Comparison
from .compare import SequenceReLU as SequenceReLU
from .compare import ann_counterpart as ann_counterpart
from .compare import compare_ann_snn as compare_ann_snn
from .cost import LayerCost as LayerCost
from .counts import Footprint as Footprint
from .counts import connection_sparsity as connection_sparsity
from .counts import footprint as footprint
from .counts import parameter_count as parameter_count
from .energy import DEFAULT_ENERGY_MODELS as DEFAULT_ENERGY_MODELS
from .energy import FP16_45NM as FP16_45NM
from .energy import FP32_45NM as FP32_45NM
from .energy import INT8_45NM as INT8_45NM
from .energy import BitBudget as BitBudget
from .energy import EnergyModel as EnergyModel
from .energy import EnergyResult as EnergyResult
from .energy import MemoryAwareEnergy as MemoryAwareEnergy
from .energy import OpEnergy as OpEnergy
from .latency import Latency as Latency
from .latency import measure_latency as measure_latency
from .neuron_ops import NEURON_OPS as NEURON_OPS
from .profile import Profile as Profile
from .profile import profile as profile
from .summary import summarize as summarize

__all__ = [
    "profile", "Profile", "LayerCost", "summarize",
    "Footprint", "footprint", "parameter_count", "connection_sparsity", "NEURON_OPS",
    "EnergyModel", "EnergyResult", "OpEnergy", "BitBudget", "MemoryAwareEnergy",
    "FP32_45NM", "FP16_45NM", "INT8_45NM", "DEFAULT_ENERGY_MODELS",
    "ann_counterpart", "compare_ann_snn", "Comparison", "SequenceReLU",
    "Latency", "measure_latency",
]
