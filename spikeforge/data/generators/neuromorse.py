"""NeuroMorse (Walters et al., arXiv 2502.20729), regenerated offline from the published rules.

The 50 most common English words are written in Morse code on two input channels: a dot is one
spike on channel 0, a dash one spike on channel 1. Within a character, symbol ``k`` fires at
``k · (SYMBOL_SPACE + 1)``; the next character starts at ``last spike + 1 + LETTER_SPACE``; in a
stream, the next word starts ``WORD_SPACE − LETTER_SPACE`` steps later still. Times are integer
time steps (``Events.time_unit is None``), ``sensor_size = (2, 1, 1)``.

Noise (applied in this order, as published): per-spike dropout, Gaussian time jitter, then
Poisson noise on each channel. The 27 variants are {none, low, high}³. The published generator
seeded NumPy's legacy global generator once with 100 and drew the training and the Wikipedia test
sets from one interleaved stream, so its noisy files cannot be reproduced bit-for-bit without
that corpus; here every variant draws from a fresh ``RandomState(seed)`` (seed 100 by default) with
the same per-spike draw order, so variants that share a noise level share its realisation.

``faithful=True`` reproduces four properties of the published files that the default mode does
differently (the default keeps integer time steps and clean labels):

1. Poisson noise: the published generator accumulates *unrounded* exponential gaps, giving the
   nominal 0.05 / 0.1 spikes per step per channel. The default rounds each gap to whole steps, so
   zero gaps collapse and noise landing on a word spike merges with it: about 10–13 % fewer noise
   spikes (≈ 0.045 and ≈ 0.088 per step per channel on the training words).
2. Times stay ``float64`` (not truncated to integer steps), as the published HDF5 files store them.
3. The keyword stream starts with the spikes of "me" (the last training word, left over in the
   published generator's buffer: steps 0, 6, 17); the first word of the text starts at step 28,
   where the next character of "me" would have started.
4. Words of the stream are stripped of leading and trailing :data:`string.punctuation`
   (``str.strip``), so "the," is an occurrence of "the"; a token that is only punctuation is
   dropped. The default encodes punctuation as Morse characters and labels exact tokens only.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import numpy as np

from ..events import Events, make_events

__all__ = [
    "MORSE_CODE", "TOP50_WORDS", "SYMBOL_SPACE", "LETTER_SPACE", "WORD_SPACE", "NEUROMORSE_SEED",
    "NoiseLevels", "noise_variants", "encode_word", "add_noise", "neuromorse_words",
    "KeywordStream", "keyword_stream", "default_text",
]

SYMBOL_SPACE = 5   # silent steps between the symbols of one character
LETTER_SPACE = 10  # silent steps between characters
WORD_SPACE = 15    # silent steps between words
NEUROMORSE_SEED = 100

#: International Morse code for the characters the published generator encodes.
MORSE_CODE: dict[str, str] = {
    "a": ".-", "b": "-...", "c": "-.-.", "d": "-..", "e": ".", "f": "..-.", "g": "--.",
    "h": "....", "i": "..", "j": ".---", "k": "-.-", "l": ".-..", "m": "--", "n": "-.",
    "o": "---", "p": ".--.", "q": "--.-", "r": ".-.", "s": "...", "t": "-", "u": "..-",
    "v": "...-", "w": ".--", "x": "-..-", "y": "-.--", "z": "--..",
    "1": ".----", "2": "..---", "3": "...--", "4": "....-", "5": ".....",
    "6": "-....", "7": "--...", "8": "---..", "9": "----.", "0": "-----",
    ".": ".-.-.-", ",": "--..--", "?": "..--..", ":": "---...", "'": ".----.", "-": "-....-",
    "/": "-..-.", "(": "-.--.", ")": "-.--.-", '"': ".-..-.", "=": "-...-", ";": "-.-.-.",
    "$": "...-..-",
}

#: The dataset's 50 classes, in label order.
TOP50_WORDS: tuple[str, ...] = (
    "the", "be", "to", "of", "and", "a", "in", "that", "have", "i",
    "it", "for", "not", "on", "with", "he", "as", "you", "do", "at",
    "this", "but", "his", "by", "from", "they", "we", "say", "her", "she",
    "or", "an", "will", "my", "one", "all", "would", "there", "their", "what",
    "so", "up", "out", "if", "about", "who", "get", "which", "go", "me",
)

Level = Literal["none", "low", "high"]
_LEVELS = ("none", "low", "high")
_DROPOUT = {"none": 0.0, "low": 0.25 / 7.5, "high": 0.5 / 7.5}  # probability per spike
_JITTER = {"none": 0.0, "low": 1.0, "high": 2.0}                 # σ in time steps
_POISSON = {"none": 0.0, "low": 0.05, "high": 0.1}               # spikes per step per channel
_SENSOR = (2, 1, 1)


@dataclass(frozen=True)
class NoiseLevels:
    """One of the 27 NeuroMorse noise variants.

    Attributes:
        dropout: "none" | "low" | "high" → drop probability 0, 0.25/7.5, 0.5/7.5 per spike.
        jitter: "none" | "low" | "high" → Gaussian time jitter σ = 0, 1, 2 steps.
        poisson: "none" | "low" | "high" → 0, 0.05, 0.1 noise spikes per step per channel.
    """

    dropout: Level = "none"
    jitter: Level = "none"
    poisson: Level = "none"

    def __post_init__(self) -> None:
        for name in ("dropout", "jitter", "poisson"):
            v = getattr(self, name)
            if isinstance(v, str):
                object.__setattr__(self, name, v.lower())
            if getattr(self, name) not in _LEVELS:
                raise ValueError(f"{name} noise level must be one of {_LEVELS}, got {v!r}")

    @property
    def drop_probability(self) -> float:
        return _DROPOUT[self.dropout]

    @property
    def jitter_std(self) -> float:
        return _JITTER[self.jitter]

    @property
    def poisson_rate(self) -> float:
        return _POISSON[self.poisson]

    @property
    def is_clean(self) -> bool:
        return self == NoiseLevels()

    @property
    def file_stem(self) -> str:
        """Stem of the published HDF5 file: ``Clean`` or ``Dropout-Low Jitter-None Poisson-High``."""
        if self.is_clean:
            return "Clean"
        cap = {"none": "None", "low": "Low", "high": "High"}
        return f"Dropout-{cap[self.dropout]} Jitter-{cap[self.jitter]} Poisson-{cap[self.poisson]}"


def noise_variants() -> list[NoiseLevels]:
    """All 27 variants, dropout-major then jitter then Poisson (the published order)."""
    return [NoiseLevels(d, j, p) for d in _LEVELS for j in _LEVELS for p in _LEVELS]  # type: ignore[arg-type]


def _encode(word: str, t0: int) -> tuple[list[int], list[int], int]:
    """Spike times/channels of ``word`` from ``t0``; returns the start time of the next character."""
    times: list[int] = []
    chans: list[int] = []
    t = t0
    for ch in word:
        code = MORSE_CODE.get(ch)
        if code is None:
            continue  # characters without a Morse code are skipped, as in the published generator
        for k, sym in enumerate(code):
            times.append(t + k * (SYMBOL_SPACE + 1))
            chans.append(0 if sym == "." else 1)
        t = times[-1] + 1 + LETTER_SPACE
    return times, chans, t


def encode_word(word: str) -> Events:
    """Clean spike train of one word (lower-cased), starting at t = 0.

    Example:
        >>> ev = encode_word("at")   # a = .-  t = -
        >>> ev.t.tolist(), ev.x.tolist()
        ([0, 6, 17], [0, 1, 1])
    """
    if not isinstance(word, str):
        raise TypeError(f"word must be a str, got {type(word).__name__}")
    times, chans, _ = _encode(word.lower(), 0)
    if not times:
        raise ValueError(f"word {word!r} has no characters with a Morse code")
    return make_events(np.asarray(times, np.int64), np.asarray(chans, np.int64),
                       sensor_size=_SENSOR, time_unit=None)


def _unique(t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by (t, x) and drop exact duplicates (the published ``np.unique`` step)."""
    order = np.lexsort((x, t))
    t, x = t[order], x[order]
    keep = np.ones(len(t), bool)
    keep[1:] = (np.diff(t) != 0) | (np.diff(x) != 0)
    return t[keep], x[keep]


def add_noise(events: Events, noise: NoiseLevels, rng: np.random.RandomState, *,
              stream: bool = False, quantize: bool | None = None, faithful: bool = False) -> Events:
    """Apply dropout, then time jitter, then Poisson noise to a NeuroMorse spike train.

    Args:
        events: Clean spikes (``sensor_size == (2, 1, 1)``).
        noise: The variant.
        rng: Legacy NumPy generator; draws follow the published order (one uniform per spike for
            dropout even at level "none", one normal per kept spike for jitter).
        stream: Use the published *test-stream* recipe: continuous-time Poisson arrivals up to the
            clean stream's last spike. Otherwise the training recipe: inter-arrival times
            accumulated until they pass the last spike of the jittered sample (rounded to whole
            steps unless ``faithful``).
        quantize: Truncate times to integers toward zero (``int32`` files); ``False`` keeps float
            times. Default: ``not faithful``.
        faithful: The published recipe (see the module docs): unrounded Poisson gaps, float times.

    Jittered times below zero are clamped to zero (the published generator does this for the
    training words only; here also for streams, to keep times non-negative).
    """
    if tuple(events.sensor_size) != _SENSOR:
        raise ValueError(f"NeuroMorse events need sensor_size {_SENSOR}, got {events.sensor_size}")
    if quantize is None:
        quantize = not faithful
    t = events.t.astype(np.float64)
    x = events.x.copy()
    keep = ~(rng.random_sample(len(t)) < noise.drop_probability)
    t, x = t[keep], x[keep]
    if noise.jitter_std > 0 and len(t):
        if stream:
            t = t + rng.normal(0.0, noise.jitter_std, len(t))
        else:
            t = t + np.array([rng.normal(0.0, noise.jitter_std) for _ in range(len(t))])
        t = np.maximum(t, 0.0)
    rate = noise.poisson_rate
    if rate > 0 and len(events):
        if stream:
            t_end = float(events.t[-1])
            n = max(int(t_end), 1)
            draws = [np.cumsum(rng.exponential(1.0 / rate, n)) for _ in range(2)]
            extra_t: list[Any] = [e[e < t_end] for e in draws]
        else:
            t_end = float(t[-1]) if len(t) else 0.0
            extra_t = [[], []]
            acc = np.zeros(2)
            while True:
                gaps = rng.exponential(1.0 / rate, 2)
                acc += gaps if faithful else np.round(gaps)
                for c in range(2):
                    if acc[c] < t_end:
                        extra_t[c].append(acc[c])
                if acc[0] > t_end and acc[1] > t_end:
                    break
        t = np.concatenate([t, np.asarray(extra_t[0], np.float64), np.asarray(extra_t[1], np.float64)])
        x = np.concatenate([x, np.zeros(len(extra_t[0]), np.int64), np.ones(len(extra_t[1]), np.int64)])
    t, x = _unique(t, x)
    if quantize:
        t = np.trunc(t).astype(np.int64)
    return make_events(t, x, sensor_size=_SENSOR, time_unit=None)


def neuromorse_words(noise: NoiseLevels | None = None, *, seed: int = NEUROMORSE_SEED,
                     quantize: bool | None = None, faithful: bool = False) -> list[tuple[Events, int]]:
    """The 50-word training set: ``[(events, label)]`` with label = index in :data:`TOP50_WORDS`.

    Args:
        noise: Noise variant (clean if ``None``).
        seed: Seed of the ``RandomState`` all 50 words draw from, in label order.
        quantize, faithful: See :func:`add_noise`.
    """
    noise = NoiseLevels() if noise is None else noise
    rng = np.random.RandomState(seed)
    out = []
    for label, word in enumerate(TOP50_WORDS):
        ev = encode_word(word)
        out.append((add_noise(ev, noise, rng, quantize=quantize, faithful=faithful), label))
    return out


@dataclass(frozen=True, eq=False)
class KeywordStream:
    """A keyword-spotting stream.

    Attributes:
        events: All spikes of the text.
        starts: Per keyword (in :data:`TOP50_WORDS` order), start times of its occurrences ``[n_k]``.
        ends: ``starts + last spike time of the keyword's clean sample + WORD_SPACE``.
    """

    events: Events
    starts: dict[str, np.ndarray]
    ends: dict[str, np.ndarray]


def default_text() -> str:
    """The small public-domain text shipped with spikeforge (comment lines removed)."""
    raw = resources.files(__package__).joinpath("neuromorse_text.txt").read_text(encoding="utf-8")
    return "\n".join(line for line in raw.splitlines() if not line.startswith("#"))


def _published_word(token: str) -> str:
    """A token as the published generator encodes it: leading/trailing punctuation stripped."""
    return token.strip(string.punctuation)


def keyword_stream(text: str | None = None, noise: NoiseLevels | None = None, *,
                   seed: int = NEUROMORSE_SEED, quantize: bool | None = None,
                   faithful: bool = False) -> KeywordStream:
    """Encode ``text`` as one Morse spike stream and label every keyword occurrence.

    Words are the whitespace-separated, lower-cased tokens; a token is a keyword only if it equals
    one of :data:`TOP50_WORDS` exactly ("the," is not "the"). Characters without a Morse code are
    skipped; every token is followed by the word gap.

    With ``faithful=True`` (the published files, see the module docs) the stream starts with the
    leftover spikes of "me" and the text at step 28, tokens are stripped of leading and trailing
    punctuation first ("the," is "the"; all-punctuation tokens are dropped), and noisy times stay
    float.

    Args:
        text: Any text; defaults to :func:`default_text`.
        noise: Noise variant applied with the test-stream recipe (labels stay clean).
        seed: Seed of the noise generator.
        quantize: See :func:`add_noise`.
        faithful: Reproduce the published stream's layout (see above).
    """
    if text is None:
        text = default_text()
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    keyword_last = {w: int(encode_word(w).t[-1]) for w in TOP50_WORDS}
    starts: dict[str, list[int]] = {w: [] for w in TOP50_WORDS}
    times: list[int] = []
    chans: list[int] = []
    t = 0
    tokens = text.lower().split()
    if faithful:
        times, chans, t = _encode("me", 0)  # leftover buffer; the text starts where "me" would continue
        tokens = [w for w in map(_published_word, tokens) if w]
    for token in tokens:
        if token in starts:
            starts[token].append(t)
        tt, cc, t = _encode(token, t)
        times += tt
        chans += cc
        t += WORD_SPACE - LETTER_SPACE
    if not times:
        raise ValueError("text contains no characters with a Morse code")
    events = make_events(np.asarray(times, np.int64), np.asarray(chans, np.int64),
                         sensor_size=_SENSOR, time_unit=None)
    noise = NoiseLevels() if noise is None else noise
    if not noise.is_clean:
        events = add_noise(events, noise, np.random.RandomState(seed), stream=True, quantize=quantize,
                           faithful=faithful)
    s = {w: np.asarray(v, np.int64) for w, v in starts.items()}
    e = {w: s[w] + keyword_last[w] + WORD_SPACE for w in TOP50_WORDS}
    return KeywordStream(events, s, e)
