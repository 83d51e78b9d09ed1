"""Inference-time agents: early exit (Dynamic Confidence) and adversarial evaluation."""

from .attacks import SDAResult as SDAResult
from .attacks import attack_success_rate as attack_success_rate
from .attacks import attack_surrogate as attack_surrogate
from .attacks import cw_margin as cw_margin
from .attacks import fgsm as fgsm
from .attacks import logits_of as logits_of
from .attacks import pdsg_for as pdsg_for
from .attacks import pgd as pgd
from .attacks import sparse_dynamic_attack as sparse_dynamic_attack
from .early_exit import ExitResult as ExitResult
from .early_exit import ThresholdResult as ThresholdResult
from .early_exit import dynamic_confidence as dynamic_confidence
from .early_exit import evaluate_dynamic_confidence as evaluate_dynamic_confidence

__all__ = ["ExitResult", "SDAResult", "ThresholdResult", "attack_success_rate", "attack_surrogate", "cw_margin",
           "dynamic_confidence", "evaluate_dynamic_confidence", "fgsm", "logits_of", "pdsg_for", "pgd",
           "sparse_dynamic_attack"]
