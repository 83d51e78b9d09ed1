"""spikeforge — spiking neural networks in PyTorch.

Time-major tensors ``[T, B, ...]`` everywhere; neurons are pure step functions with explicit
state behind thin ``nn.Module`` wrappers; registries feed the CLI, the docs and the tests.

Example:
    >>> import torch, spikeforge as sf
    >>> net = torch.nn.Sequential(torch.nn.Linear(700, 256), sf.LIF(tau_mem=10e-3),
    ...                           torch.nn.Linear(256, 20), sf.LI(tau_mem=20e-3))
    >>> xs = sf.encoders.poisson_encode(torch.rand(8, 700), steps=100)   # [100, 8, 700]
    >>> net(xs).mean(0).shape
    torch.Size([8, 20])
"""

from __future__ import annotations

from . import data as data
from . import encoders as encoders
from . import layers as layers
from . import learning as learning
from . import models as models
from . import monitors as monitors
from . import neurons as neurons
from . import surrogate as surrogate
from ._registry import Registry as Registry
from .config import TrainConfig as TrainConfig
from .encoders import DECODERS as DECODERS
from .encoders import ENCODERS as ENCODERS
from .layers import TimeDistributed as TimeDistributed
from .learning import evaluate as evaluate
from .learning import fit as fit
from .learning import load_model as load_model
from .models import MODELS as MODELS
from .models import create_model as create_model
from .neurons import ALIF as ALIF
from .neurons import IF as IF
from .neurons import LI as LI
from .neurons import LIF as LIF
from .neurons import NEURONS as NEURONS
from .neurons import PLIF as PLIF
from .neurons import CubaLIF as CubaLIF
from .neurons import Izhikevich as Izhikevich
from .numerics import NonFiniteError as NonFiniteError
from .numerics import allow_nonfinite as allow_nonfinite
from .numerics import set_check_finite as set_check_finite
from .surrogate import SURROGATES as SURROGATES

__version__ = "0.1.0"

__all__ = [
    "ALIF", "DECODERS", "ENCODERS", "IF", "LI", "LIF", "MODELS", "NEURONS", "PLIF", "SURROGATES",
    "CubaLIF", "Izhikevich", "NonFiniteError", "Registry", "TimeDistributed", "TrainConfig", "__version__",
    "allow_nonfinite", "create_model", "data", "encoders", "evaluate", "fit", "layers", "learning",
    "load_model", "models", "monitors", "neurons", "set_check_finite", "surrogate",
]


def __getattr__(name: str) -> object:
    # Heavier subpackages load on first use: ``sf.metrics``, ``sf.quant``, ``sf.to_nir`` / ``sf.from_nir`` ...
    import importlib

    if name in ("metrics", "interop", "kernels", "bench", "runtime", "plasticity", "reservoir", "quant"):
        return importlib.import_module(f".{name}", __name__)
    if name in ("to_nir", "from_nir"):
        return getattr(importlib.import_module(".interop", __name__), name)
    raise AttributeError(f"module 'spikeforge' has no attribute {name!r}")
