"""NIR (Neuromorphic Intermediate Representation) export and import.

- :func:`to_nir` — a spikeforge network → ``nir.NIRGraph`` (write it with ``nir.write``).
- :func:`from_nir` — a ``nir.NIRGraph`` or ``.nir`` file → runnable
  :class:`~spikeforge.layers.graph.ModuleGraph`.

Both take the integration step ``dt`` explicitly (default 1e-4 s) and carry the discrete reset
mode, which NIR leaves unspecified, in node metadata (see :mod:`._converters`).
"""

from ._converters import NEURON_TO_NIR as NEURON_TO_NIR
from ._converters import NIR_UNSUPPORTED as NIR_UNSUPPORTED
from ._converters import NIRFormatError as NIRFormatError
from ._converters import NIRWarning as NIRWarning
from .from_nir import from_nir as from_nir
from .from_nir import read_nir as read_nir
from .to_nir import to_nir as to_nir

__all__ = ["NEURON_TO_NIR", "NIR_UNSUPPORTED", "NIRFormatError", "NIRWarning", "from_nir", "read_nir", "to_nir"]
