"""Model zoo: registered builders (``create_model``, ``list_models``)."""

from . import dcls as _dcls  # noqa: F401  (registers "dcls")
from . import mlp as _mlp  # noqa: F401  (registers "mlp", "rsnn")
from . import transformers as transformers  # registers the spiking-transformer zoo
from ._describe import model_table as model_table
from ._factory import MODELS as MODELS
from ._factory import build_model as build_model
from ._factory import create_model as create_model
from ._factory import list_models as list_models
from .mlp import SNNClassifier as SNNClassifier

__all__ = ["MODELS", "SNNClassifier", "build_model", "create_model", "list_models", "model_table", "transformers"]
