"""ANN → SNN conversion: threshold balancing, BN folding, QCFS.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from spikeforge.convert import convert
    >>> ann = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> snn = convert(ann, torch.rand(32, 4), method="robust")
    >>> snn(torch.rand(16, 2, 4)).mean(0).shape      # [T, B, 4] -> [T, B, 3] -> [B, 3]
    torch.Size([2, 3])
"""

from __future__ import annotations

from ._graph import ConversionError as ConversionError
from ._graph import fold_bn as fold_bn
from ._graph import prepare as prepare
from .balance import CONVERTERS as CONVERTERS
from .balance import percentile as percentile
from .convert import PrimeMembrane as PrimeMembrane
from .convert import PrimeState as PrimeState
from .convert import calibrate as calibrate
from .convert import conversion_accuracy as conversion_accuracy
from .convert import convert as convert
from .qcfs import QCFS as QCFS
from .qcfs import qcfs as qcfs
from .recurrent import QRNN as QRNN
from .recurrent import SpikingRNN as SpikingRNN
from .recurrent import convert_qrnn as convert_qrnn

__all__ = ["CONVERTERS", "QCFS", "ConversionError", "PrimeMembrane", "PrimeState", "calibrate", "conversion_accuracy",
           "convert", "convert_qrnn", "fold_bn", "percentile", "prepare", "qcfs", "QRNN", "SpikingRNN"]
