"""Data: event containers, generators, real-format loaders, representations and batching.

This package stands beside the model stack: it imports nothing of spikeforge but ``_registry``.
"""

from .datasets import DATASETS as DATASETS
from .datasets import ArrayDataset as ArrayDataset
from .datasets import load_dataset as load_dataset

__all__ = ["DATASETS", "ArrayDataset", "load_dataset"]
