"""Data: event containers, generators, real-format loaders, representations and batching.

This package stands beside the model stack: it imports nothing of spikeforge but ``_registry``.

- :class:`Events` / :func:`make_events`: validated event streams (``t, x, y, p``).
- :data:`DATASETS` / :func:`load_dataset`: registered datasets yielding ``(x, y)``.
- :data:`REPRESENTATIONS`: events → tensors (frames, voxel grid, time surfaces, point clouds, …).
- :data:`AUGMENTATIONS`: event augmentations.
- :class:`DenseSizeError`, :func:`set_max_dense_elements`: the bound on what a representation
  may allocate (a corrupt time stamp gives a clear error, not a ``MemoryError``).
- :func:`pad_collate`, :class:`BucketBatchSampler`, :class:`CachedDataset`: batching to ``[T, B, ...]``.
- :mod:`.generators` (NeuroMorse, moving shapes, SHD-like audio, memory tasks) and :mod:`.formats`
  (N-MNIST ATIS, AEDAT 3.1, SHD/SSC and NeuroMorse HDF5).
"""

from . import formats as formats
from ._limits import DenseSizeError as DenseSizeError
from ._limits import max_dense_elements as max_dense_elements
from ._limits import set_max_dense_elements as set_max_dense_elements
from . import generators as generators
from .augment import AUGMENTATIONS as AUGMENTATIONS
from .cache import CachedDataset as CachedDataset
from .cache import transform_key as transform_key
from .collate import BucketBatchSampler as BucketBatchSampler
from .collate import lengths_to_mask as lengths_to_mask
from .collate import pad_collate as pad_collate
from .datasets import DATASETS as DATASETS
from .datasets import ArrayDataset as ArrayDataset
from .datasets import load_dataset as load_dataset
from .events import EventError as EventError
from .events import Events as Events
from .events import make_events as make_events
from .formats import FormatError as FormatError
from .representations import REPRESENTATIONS as REPRESENTATIONS

__all__ = [
    "formats", "generators", "AUGMENTATIONS", "CachedDataset", "transform_key", "BucketBatchSampler",
    "lengths_to_mask", "pad_collate", "DATASETS", "ArrayDataset", "load_dataset", "EventError",
    "Events", "make_events", "FormatError", "REPRESENTATIONS", "DenseSizeError", "max_dense_elements",
    "set_max_dense_elements",
]
