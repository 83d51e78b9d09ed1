"""How weights change: losses, regularizers, the BPTT training loop and checkpoints."""

from .snapshot import CheckpointError as CheckpointError
from .snapshot import load_checkpoint as load_checkpoint
from .snapshot import load_model as load_model
from .snapshot import save_checkpoint as save_checkpoint
from .losses import LOSSES as LOSSES
from .losses import ce_count_loss as ce_count_loss
from .losses import ce_membrane_loss as ce_membrane_loss
from .losses import first_spike_time_loss as first_spike_time_loss
from .losses import mse_count_loss as mse_count_loss
from .regularizers import RateRegularizer as RateRegularizer
from .regularizers import firing_rate_regularizer as firing_rate_regularizer
from .modes import BPTT as BPTT
from .modes import OTTT as OTTT
from .modes import SLTT as SLTT
from .modes import TRAINING_MODES as TRAINING_MODES
from .online import SavedBytes as SavedBytes
from .online import ottt_backward as ottt_backward
from .online import sltt_backward as sltt_backward
from .run_log import RunLog as RunLog
from .schedules import CosineSchedule as CosineSchedule
from .trainer import FitResult as FitResult
from .trainer import evaluate as evaluate
from .trainer import fit as fit
from .trainer import seed_everything as seed_everything

__all__ = [
    "LOSSES", "CheckpointError", "CosineSchedule", "FitResult", "RateRegularizer", "RunLog", "ce_count_loss",
    "ce_membrane_loss", "evaluate", "fit",
    "first_spike_time_loss", "firing_rate_regularizer", "load_checkpoint", "load_model",
    "mse_count_loss", "save_checkpoint", "seed_everything",
    "SavedBytes", "ottt_backward", "sltt_backward",
    "BPTT", "OTTT", "SLTT", "TRAINING_MODES",
]
