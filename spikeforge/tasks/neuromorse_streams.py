"""NeuroMorse streams for the keyword-spotting tasks: the generated texts (keywords and distractors),
their noisy streams for validation, binning into input counts and per-bin targets, the background-rate
estimate of a stream whose text is known, and the noise variants by name.

Shared by the delay-template detector (:mod:`~spikeforge.tasks.neuromorse_kws`), the likelihood-ratio
detector (:mod:`~spikeforge.tasks.neuromorse_lr`) and the oracle analysis
(:mod:`~spikeforge.tasks.neuromorse_oracle`). Nothing here reads a variant's noise parameters except
:func:`select_variants`, which names variants for the command lines.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..data.generators.neuromorse import TOP50_WORDS, KeywordStream, NoiseLevels, keyword_stream, noise_variants

__all__ = ["training_stream", "stream_tensors", "validation_text", "validation_stream", "estimate_background_rate",
           "select_variants"]

_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
_LETTER_P = np.array([12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0, 2.0,
                      1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1])  # English letter frequency [%]
_PUNCT = ".,?:'\"-;"
# Common English words that are not keywords, written out for this module (rough frequency order, not
# taken from the evaluation text): distractors of the ``english`` training / validation texts.
_ENGLISH = tuple(dict.fromkeys(w for w in """
no just him into your some them than then now only its also over after how our well even new because any
these most us very when where why here more many good first last long great little own other old big high
different small large next early young important few public bad same able upon such those through down
before between again never always often still each every both while off under against without since within
around yes much too yet nor ever once whom whose though half thus shall should may might must can could make
know take see come think look want give use find tell ask seem feel try leave call said went came made took
saw knew had has was were is are been did does let put keep begin help show hear play run move live believe
bring happen write sit stand lose pay meet set learn lead understand watch follow stop speak read spend grow
open walk win offer remember love appear buy wait serve die send build stay fall cut reach kill remain people
time year way day man thing woman life child world school state family group country problem hand part place
case week work number night point home water room mother area money story fact month lot right study book
eye job word side kind head house friend father power hour game line end law city name team minute idea body
back face level office door health person war history party change morning reason girl moment air force king
god lord sea land sun light fire heart mind love death earth dear poor sir mr mrs miss told asked thought
found felt left began seemed heard himself herself itself myself nothing something everything anything
""".split() if w not in TOP50_WORDS))


def training_stream(rng: np.random.Generator, n_words: int, p_keyword: float = 0.5, zipf: bool = False,
                    english: bool = False) -> str:
    """A random text of keywords and distractors (never a keyword; see the module docs).

    ``zipf``: keyword ``r`` (0-based rank in :data:`TOP50_WORDS`, which is in order of English frequency)
    drawn with probability ∝ ``1 / (r + 1)`` (Zipf's law) instead of uniformly, as in running text.
    ``english``: a distractor that is not a punctuated keyword is a common English word (uniform over
    ``_ENGLISH``, about 290 words that are not keywords) instead of a random letter string, so the
    negatives have the letter structure of running text.
    """
    tokens: list[str] = []
    keywords = set(TOP50_WORDS)
    pk = 1.0 / np.arange(1, len(TOP50_WORDS) + 1)
    pk = pk / pk.sum()
    while len(tokens) < n_words:
        if rng.random() < p_keyword:
            r = rng.choice(len(TOP50_WORDS), p=pk) if zipf else rng.integers(len(TOP50_WORDS))
            tokens.append(TOP50_WORDS[int(r)])
            continue
        if rng.random() < 0.2:  # a keyword with punctuation attached: not a keyword in the default stream
            w = TOP50_WORDS[rng.integers(len(TOP50_WORDS))]
            p = _PUNCT[rng.integers(len(_PUNCT))]
            tokens.append(w + p if rng.random() < 0.7 else p + w)
            continue
        if english:
            tokens.append(_ENGLISH[int(rng.integers(len(_ENGLISH)))])
            continue
        n = int(rng.integers(1, 8))
        w = "".join(rng.choice(list(_LETTERS), n, p=_LETTER_P / _LETTER_P.sum()))
        if w not in keywords:
            tokens.append(w)
    return " ".join(tokens)


def stream_tensors(stream: KeywordStream, bin: int, halfwidth: int = 3) -> tuple[Tensor, Tensor]:
    """Binned input ``[T', 2]`` (spike counts) and per-bin targets ``[T', 50]`` (1 where a keyword ends).

    Keyword ``k`` is the target of every bin that overlaps ``[e - halfwidth, e + halfwidth]`` for a
    label time ``e`` of ``k``.
    """
    t = np.asarray(stream.events.t, np.int64)
    last = max(int(t.max()) if len(t) else 0, max((int(e.max()) for e in stream.ends.values() if len(e)),
                                                  default=0)) + halfwidth + 1
    n = -(-last // bin)
    x = torch.zeros(n, 2)
    np.add.at(x.numpy(), (t // bin, np.asarray(stream.events.x, np.int64)), 1.0)
    y = torch.zeros(n, len(TOP50_WORDS))
    for k, word in enumerate(TOP50_WORDS):
        for e in stream.ends[word]:
            y[max(int(e) - halfwidth, 0) // bin:(int(e) + halfwidth) // bin + 1, k] = 1.0
    return x, y


def validation_text(words: int = 1000, seed: int = 1, zipf: bool = False, english: bool = False) -> str:
    """The text of :func:`validation_stream` (random keywords and distractors, generator seed ``10000 + seed``)."""
    return training_stream(np.random.default_rng(10_000 + seed), words, 0.5, zipf, english)


def validation_stream(noise: NoiseLevels, words: int = 1000, seed: int = 1, zipf: bool = False,
                      english: bool = False) -> KeywordStream:
    """A generated stream for calibration (random keyword/distractor text, noise seed ``1000 + seed``):
    never the evaluation text, never the evaluation noise seed (100). ``zipf``, ``english``: see
    :func:`training_stream`."""
    return keyword_stream(validation_text(words, seed, zipf, english), noise, seed=1000 + seed)


def estimate_background_rate(noisy: KeywordStream, clean: KeywordStream) -> float:
    r"""Background (Poisson) rate λ̂ [spikes per step per channel] of a stream whose clean text is known.

    The excess of the noisy stream's spike count over the clean one's (the same text without noise), per
    channel and step up to the last clean spike (the stream recipe adds Poisson spikes up to there):

    .. math:: \hat\lambda = \max\Big(0,\ \frac{N_{\mathrm{noisy}} - N_{\mathrm{clean}}}{2\,(t_{\mathrm{end}} + 1)}\Big).

    Jitter moves spikes but keeps their number; dropout removes a fraction ``p`` of the clean spikes, so
    λ̂ is low by ``p · N_clean / (2 (t_end + 1))``: the generated texts carry about 0.067 clean spikes per step
    per channel, so at the published ``p`` = 0.033 / 0.067 λ̂ is low by about 0.002 / 0.0045 per step (5 / 9 %
    of λ = 0.05; a log-evidence detector is insensitive to that). The detector sees only data it may see: a generated
    validation stream of the variant, whose text (and so its clean spike count) it generated; never the
    generator's noise parameters.

    Example:
        >>> from spikeforge.data.generators.neuromorse import keyword_stream
        >>> s = keyword_stream("the cat")
        >>> estimate_background_rate(s, s)  # the clean stream has no background spikes
        0.0
    """
    tc = np.asarray(clean.events.t, np.int64)
    if len(tc) == 0:
        raise ValueError("estimate_background_rate: the clean stream has no spikes")
    t_end = int(tc.max())
    tn = np.asarray(noisy.events.t, np.int64)
    n_noisy = int(((tn >= 0) & (tn <= t_end)).sum())
    return max(0.0, (n_noisy - len(tc)) / (2.0 * (t_end + 1)))


def select_variants(spec: str) -> list[NoiseLevels]:
    """Noise variants by name: ``all`` (27), ``single`` (clean and one noise type at a time), ``mixed``
    (two or three types), ``clean``, or comma-separated codes of dropout, jitter, Poisson levels
    (``n``/``l``/``h``), e.g. ``"nnh,hhh"``.

    Example:
        >>> [v.file_stem for v in select_variants("nnn,hnl")]
        ['Clean', 'Dropout-High Jitter-None Poisson-Low']
    """
    every = noise_variants()
    n_none = {v: [v.dropout, v.jitter, v.poisson].count("none") for v in every}
    named = {"all": every, "clean": [NoiseLevels()], "single": [v for v in every if n_none[v] >= 2],
             "mixed": [v for v in every if n_none[v] <= 1]}
    if spec in named:
        return named[spec]
    level = {"n": "none", "l": "low", "h": "high"}
    out = []
    for code in spec.split(","):
        if len(code) != 3 or any(ch not in level for ch in code):
            raise ValueError(f"variant code must be three of n/l/h (dropout, jitter, Poisson), got {code!r} in "
                             f"{spec!r}; or one of {sorted(named)}")
        out.append(NoiseLevels(level[code[0]], level[code[1]], level[code[2]]))  # type: ignore[arg-type]
    return out
