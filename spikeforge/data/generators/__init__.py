"""Offline, seeded data generators: NeuroMorse, DVS-like moving shapes, SHD-like audio, memory and delay tasks."""

from .audio import AudioTemplate as AudioTemplate
from .audio import audio_like_events as audio_like_events
from .audio import make_audio_templates as make_audio_templates
from .delay_tasks import delayed_logic as delayed_logic
from .delay_tasks import make_motifs as make_motifs
from .delay_tasks import spiking_motifs as spiking_motifs
from .dvs import ShapeMotion as ShapeMotion
from .dvs import moving_shape_events as moving_shape_events
from .memory import adding_problem as adding_problem
from .memory import delayed_cue as delayed_cue
from .neuromorse import TOP50_WORDS as TOP50_WORDS
from .neuromorse import KeywordStream as KeywordStream
from .neuromorse import NoiseLevels as NoiseLevels
from .neuromorse import add_noise as add_noise
from .neuromorse import encode_word as encode_word
from .neuromorse import keyword_stream as keyword_stream
from .neuromorse import neuromorse_words as neuromorse_words
from .neuromorse import noise_variants as noise_variants

__all__ = [
    "AudioTemplate", "audio_like_events", "make_audio_templates", "ShapeMotion",
    "moving_shape_events", "adding_problem", "delayed_cue", "TOP50_WORDS", "KeywordStream",
    "NoiseLevels", "add_noise", "encode_word", "keyword_stream", "neuromorse_words", "noise_variants",
    "delayed_logic", "make_motifs", "spiking_motifs",
]
