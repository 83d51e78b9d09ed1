"""Event-driven simulation of spiking networks on sparse connectivity (issue 12).

- :mod:`.graph`: :class:`SparseGraph` (CSR + transposed index), :func:`from_edges`, :func:`from_dense`.
- :mod:`.generators`: :func:`fixed_indegree`, :func:`erdos_renyi`, :func:`small_world` (Watts–Strogatz),
  :func:`distance_graph` (``C exp(-(D/λ)²)``), :func:`grid_positions`.
- :mod:`.engine`: the pure :func:`event_step` (LIF, delays, refractoriness, on-line sparse STDP) and
  :func:`simulate`; :class:`EventNetwork` is the thin module over them.
- ``python -m spikeforge.sim.bench``: events/s and synaptic updates/s, next to Brian2.
"""

from .engine import SimParams as SimParams
from .engine import SimState as SimState
from .engine import SpikeEvents as SpikeEvents
from .engine import event_step as event_step
from .engine import init_state as init_state
from .engine import propagate as propagate
from .engine import simulate as simulate
from .engine import sparse_stdp as sparse_stdp
from .generators import distance_graph as distance_graph
from .generators import erdos_renyi as erdos_renyi
from .generators import fixed_indegree as fixed_indegree
from .generators import grid_positions as grid_positions
from .generators import small_world as small_world
from .graph import SparseGraph as SparseGraph
from .graph import from_dense as from_dense
from .graph import from_edges as from_edges
from .network import EventNetwork as EventNetwork
