"""NeuroMorse: golden spike times, noise statistics, determinism, HDF5 layout, baseline."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from spikeforge.data import load_dataset
from spikeforge.data.datasets.neuromorse import NeuroMorse, linear_baseline, load_neuromorse_stream
from spikeforge.data.formats import (
    read_neuromorse_stream_h5, read_neuromorse_words_h5, write_neuromorse_stream_h5, write_neuromorse_words_h5,
)
from spikeforge.data.generators.neuromorse import (
    TOP50_WORDS, NoiseLevels, add_noise, default_text, encode_word, keyword_stream, neuromorse_words, noise_variants,
)

# Hand-derived from the rules: symbol k of a character at k*(5+1); next character at last spike
# + 1 + 10. Channel 0 = dot, channel 1 = dash.
GOLDEN = {
    "a": ([0, 6], [0, 1]),                         # .-
    "at": ([0, 6, 17], [0, 1, 1]),                 # .- | -
    "the": ([0, 11, 17, 23, 29, 40], [1, 0, 0, 0, 0, 0]),          # - | .... | .
    "of": ([0, 6, 12, 23, 29, 35, 41], [1, 1, 1, 0, 0, 1, 0]),     # --- | ..-.
    "me": ([0, 6, 17], [1, 1, 0]),                 # -- | .
    "about": ([0, 6, 17, 23, 29, 35, 46, 52, 58, 69, 75, 81, 92],
              [0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1]),           # .- | -... | --- | ..- | -
}


@pytest.mark.parametrize("word", sorted(GOLDEN))
def test_golden_spike_times(word: str) -> None:
    ev = encode_word(word)
    times, chans = GOLDEN[word]
    assert ev.t.tolist() == times
    assert ev.x.tolist() == chans
    assert ev.sensor_size == (2, 1, 1) and ev.time_unit is None


def test_training_set_is_the_50_words_in_order() -> None:
    clean = neuromorse_words()
    assert len(TOP50_WORDS) == len(set(TOP50_WORDS)) == 50
    assert [y for _, y in clean] == list(range(50))
    assert clean[0][0].t.tolist() == GOLDEN["the"][0]
    assert len(noise_variants()) == 27 and noise_variants()[0].file_stem == "Clean"
    assert noise_variants()[-1].file_stem == "Dropout-High Jitter-High Poisson-High"


def test_keyword_stream_labels_hand_derived() -> None:
    s = keyword_stream("The cat at")
    # "the" 0..40; next word at 40 + 1 + 10 + 5 = 56: "cat" = -.-. .- - → 56,62,68,74 | 85,91 | 102;
    # "at" starts at 102 + 16 = 118: 118, 124 | 135.
    assert s.events.t.tolist() == GOLDEN["the"][0] + [56, 62, 68, 74, 85, 91, 102, 118, 124, 135]
    assert s.starts["the"].tolist() == [0] and s.ends["the"].tolist() == [0 + 40 + 15]
    assert s.starts["at"].tolist() == [118] and s.ends["at"].tolist() == [118 + 17 + 15]
    assert s.starts["a"].tolist() == []  # "a" inside "cat" is not a keyword occurrence


def test_default_text_is_shipped_and_has_keywords() -> None:
    text = default_text()
    assert "#" not in text and len(text.split()) > 150
    s = keyword_stream()
    assert sum(len(v) for v in s.starts.values()) > 60


def _spikes(samples: list) -> int:
    return sum(len(ev) for ev, _ in samples)


def test_dropout_fraction() -> None:
    clean = _spikes(neuromorse_words())
    for level, rate in (("low", 0.25 / 7.5), ("high", 0.5 / 7.5)):
        kept = sum(_spikes(neuromorse_words(NoiseLevels(dropout=level), seed=s)) for s in range(30))
        frac = 1 - kept / (30 * clean)
        assert frac == pytest.approx(rate, rel=0.12), level
    stream = keyword_stream().events
    noisy = keyword_stream(noise=NoiseLevels(dropout="high")).events
    assert 1 - len(noisy) / len(stream) == pytest.approx(0.5 / 7.5, rel=0.2)


@pytest.mark.parametrize("level,sigma", [("low", 1.0), ("high", 2.0)])
def test_jitter_std(level: str, sigma: float) -> None:
    clean = [ev for ev, _ in neuromorse_words()]
    diffs = []
    for s in range(20):
        for c, (ev, _) in zip(clean, neuromorse_words(NoiseLevels(jitter=level), seed=s, quantize=False)):
            assert len(ev) == len(c)  # jitter never drops or adds spikes
            diffs.append((np.sort(ev.t) - c.t)[1:])  # first spike at t=0 is clamped; skip it
    d = np.concatenate(diffs)
    assert abs(d.mean()) < 0.1
    assert d.std() == pytest.approx(sigma, rel=0.06)


@pytest.mark.parametrize("level,rate", [("low", 0.05), ("high", 0.1)])
def test_poisson_rate(level: str, rate: float) -> None:
    clean = neuromorse_words()
    extra, span, occupied = 0, 0, 0
    for s in range(40):
        noisy = neuromorse_words(NoiseLevels(poisson=level), seed=s)
        for (c, _), (n, _) in zip(clean, noisy):
            extra += len(n) - len(c)
            span += 2 * c.t[-1]  # noise is drawn on both channels up to the last spike
            occupied += len(c) - 1  # a noise spike on an existing (t, channel) merges with it
    # Training recipe: inter-arrival times are rounded to whole steps and zero gaps collapse into
    # one spike, so distinct arrivals occur at exp(-rate/2) / E[round(Exp)] per step, and only
    # the (t, channel) slots not already holding a word spike can gain one.
    m = 1 / rate
    expected = np.exp(-0.5 / m) / (np.exp(0.5 / m) / (np.exp(1 / m) - 1)) * (1 - occupied / span)
    assert extra / span == pytest.approx(expected, rel=0.04)
    stream = keyword_stream().events
    noisy = keyword_stream(noise=NoiseLevels(poisson=level)).events
    assert (len(noisy) - len(stream)) / (2 * stream.t[-1]) == pytest.approx(rate, rel=0.08)


def test_noise_order_and_published_variants_are_deterministic() -> None:
    v = NoiseLevels("high", "high", "high")
    a = neuromorse_words(v)
    b = neuromorse_words(v)
    c = neuromorse_words(v, seed=101)
    assert all(np.array_equal(x.t, y.t) and np.array_equal(x.x, y.x) for (x, _), (y, _) in zip(a, b))
    assert any(len(x) != len(y) or not np.array_equal(x.t, y.t) for (x, _), (y, _) in zip(a, c))
    s1 = keyword_stream(noise=v).events
    s2 = keyword_stream(noise=v).events
    assert np.array_equal(s1.t, s2.t) and np.array_equal(s1.x, s2.x)
    # the clean variant draws nothing visible: identical to the clean words
    assert all(np.array_equal(x.t, encode_word(TOP50_WORDS[y]).t) for x, y in neuromorse_words())


def test_add_noise_validates() -> None:
    with pytest.raises(ValueError, match="noise level must be one of"):
        NoiseLevels(dropout="medium")  # type: ignore[arg-type]
    from spikeforge.data import make_events
    with pytest.raises(ValueError, match="sensor_size"):
        add_noise(make_events([0], [0], sensor_size=(3,)), NoiseLevels(), np.random.RandomState(0))
    with pytest.raises(ValueError, match="no characters with a Morse code"):
        encode_word("@@")


def test_hdf5_words_layout_roundtrip(tmp_path) -> None:
    samples = [(ev, TOP50_WORDS[y]) for ev, y in neuromorse_words(NoiseLevels("low", "low", "low"))]
    (tmp_path / "Train").mkdir()
    path = tmp_path / "Train" / "Dropout-Low Jitter-Low Poisson-Low.h5"
    write_neuromorse_words_h5(path, samples)
    with h5py.File(path, "r") as f:
        assert f["Spikes/Times"].shape == (50,) and f["Spikes/Channels"].shape == (50,)
        assert f["Spikes/Times"].dtype.metadata["vlen"] == np.dtype("int32")
        assert f["Labels/Labels"][0].decode() == "the"
    back = read_neuromorse_words_h5(path)
    for (a, wa), (b, wb) in zip(samples, back):
        assert wa == wb and a.t.tolist() == b.t.tolist() and a.x.tolist() == b.x.tolist()
    ds = NeuroMorse("train", tmp_path, dropout="low", jitter="low", poisson="low")
    x, y = ds[0]
    assert x.shape == (int(samples[0][0].t[-1]) + 16, 2) and int(y) == 0


def test_hdf5_stream_layout_roundtrip(tmp_path) -> None:
    s = keyword_stream("the cat sat on the mat with me", NoiseLevels(jitter="low"))
    (tmp_path / "Test").mkdir()
    path = tmp_path / "Test" / "Dropout-None Jitter-Low Poisson-None.h5"
    write_neuromorse_stream_h5(path, s.events, s.starts, s.ends)
    with h5py.File(path, "r") as f:
        assert set(f["Labels"]) == {"Labels", "Start Times", "End Times"}
        assert f["Spikes/Times"].shape == (1,)
    ev, starts, ends = read_neuromorse_stream_h5(path)
    assert ev.t.tolist() == s.events.t.tolist()
    assert starts["the"].tolist() == s.starts["the"].tolist() and ends["me"].tolist() == s.ends["me"].tolist()
    loaded = load_neuromorse_stream(tmp_path, NoiseLevels(jitter="low"))
    assert loaded.starts["on"].tolist() == s.starts["on"].tolist()


def test_missing_files_message(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Train/Clean.h5.*zenodo"):
        load_dataset("neuromorse", "train", root=tmp_path)


def test_registered_dataset_shapes() -> None:
    ds = load_dataset("neuromorse", "train", poisson="low", repeats=2)
    assert len(ds) == 100
    x, y = ds[49]
    assert x.ndim == 2 and x.shape[1] == 2 and int(y) == 49
    clean_test = load_dataset("neuromorse", "test")
    assert clean_test[3][0].tolist() == load_dataset("neuromorse", "train")[3][0].tolist()


def test_linear_classifier_baseline_matches_paper() -> None:
    # Walters et al. report 2 / 50 for this baseline on the clean training set.
    acc, pred = linear_baseline(neuromorse_words(), beta=0.95)
    assert round(acc * 50) == 2
    assert pred.shape == (50,)


# ---------------------------------------------------------------- faithful mode (the published files)

# Noise spikes per step per channel on the training words, as reported for the published files and
# for the whole-step recipe (issue 10): 0.0503 / 0.1000 published, 0.0453 / 0.0869 with gaps rounded.
PUBLISHED_POISSON = {"low": 0.0503, "high": 0.1000}
ROUNDED_POISSON = {"low": 0.0453, "high": 0.0869}


def _noise_rate(level: str, faithful: bool, seeds: int = 40) -> tuple[float, float]:
    """(noise spikes per step per channel, its standard error) over ``seeds`` training sets."""
    clean = neuromorse_words()
    extra, span = 0, 0
    for s in range(seeds):
        for (c, _), (n, _) in zip(clean, neuromorse_words(NoiseLevels(poisson=level), seed=s, faithful=faithful)):
            extra += len(n) - len(c)
            span += 2 * int(c.t[-1])  # noise is drawn on both channels up to the last word spike
    return extra / span, np.sqrt(extra) / span  # Poisson counts: SE of the rate = sqrt(count) / span


@pytest.mark.parametrize("level", ["low", "high"])
def test_faithful_poisson_rate_matches_published(level: str) -> None:
    # ~10^4 noise spikes per estimate: SE ≈ 0.5–0.7 % of the rate. The reference values are
    # estimates of similar size, so their difference has SE √2·se; allow 4 of those.
    rate, se = _noise_rate(level, faithful=True)
    assert rate == pytest.approx(PUBLISHED_POISSON[level], abs=4 * np.sqrt(2) * se)
    rounded, se_r = _noise_rate(level, faithful=False)
    assert rounded == pytest.approx(ROUNDED_POISSON[level], abs=4 * np.sqrt(2) * se_r)
    assert 0.08 < 1 - rounded / rate < 0.15  # whole-step gaps are 10–13 % sparser


def test_faithful_times_are_float64_and_stored_as_float64(tmp_path) -> None:
    v = NoiseLevels("low", "low", "low")
    words = neuromorse_words(v, faithful=True)
    assert all(ev.t.dtype == np.float64 for ev, _ in words)
    assert any(np.any(ev.t % 1 != 0) for ev, _ in words)  # jitter and noise keep fractional times
    (tmp_path / "Train").mkdir()
    path = tmp_path / "Train" / f"{v.file_stem}.h5"
    write_neuromorse_words_h5(path, [(ev, TOP50_WORDS[y]) for ev, y in words], faithful=True)
    with h5py.File(path, "r") as f:  # the published layout
        assert f["Spikes/Times"].dtype.metadata["vlen"] == np.dtype("float64")
        assert f["Spikes/Channels"].dtype.metadata["vlen"] == np.dtype("int32")
        assert f["Labels/Labels"].shape == (50,)
    back = read_neuromorse_words_h5(path)
    assert all(np.array_equal(a.t, b.t) and b.t.dtype == np.float64 for (a, _), (b, _) in zip(words, back))
    ds = NeuroMorse("train", tmp_path, dropout="low", jitter="low", poisson="low")
    assert ds[0][0].shape == (int(np.floor(words[0][0].t[-1])) + 16, 2)
    gen = NeuroMorse("train", dropout="low", jitter="low", poisson="low", faithful=True)
    assert np.array_equal(gen.samples[7][0].t, words[7][0].t)
    # the stream file too
    s = keyword_stream("the cat at", NoiseLevels(jitter="high"), faithful=True)
    write_neuromorse_stream_h5(tmp_path / "s.h5", s.events, s.starts, s.ends, faithful=True)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["Spikes/Times"].dtype.metadata["vlen"] == np.dtype("float64")
    assert np.array_equal(read_neuromorse_stream_h5(tmp_path / "s.h5")[0].t, s.events.t)


def test_faithful_stream_starts_with_leftover_me() -> None:
    s = keyword_stream("The cat at", faithful=True)
    # "me" = -- | . at 0, 6, 17; its next character would start at 17 + 1 + 10 = 28: the text starts
    # there ("the" = GOLDEN + 28), then "cat" at 68 + 16 = 84, "at" at 130 + 16 = 146.
    assert s.events.t[:3].tolist() == GOLDEN["me"][0] and s.events.x[:3].tolist() == GOLDEN["me"][1]
    the = [t + 28 for t in GOLDEN["the"][0]]
    assert s.events.t.tolist() == [0, 6, 17] + the + [84, 90, 96, 102, 113, 119, 130, 146, 152, 163]
    assert s.starts["the"].tolist() == [28] and s.ends["the"].tolist() == [28 + 40 + 15]
    assert s.starts["me"].tolist() == []  # the leftover is not an occurrence
    assert s.starts["at"].tolist() == [146]
    assert keyword_stream("The cat at").starts["the"].tolist() == [0]  # default mode unchanged


def test_faithful_stream_strips_punctuation() -> None:
    text = 'The, cat; "at" -- me.'
    s = keyword_stream(text, faithful=True)
    # same spikes as the stripped words; "--" is dropped entirely
    assert s.events.t.tolist() == keyword_stream("The cat at me", faithful=True).events.t.tolist()
    assert s.starts["the"].tolist() == [28] and s.starts["at"].tolist() == [146]
    assert s.starts["me"].tolist() == [179]  # "me." is "me": 163 + 16
    plain = keyword_stream(text)  # default: punctuation is Morse, tokens must match exactly
    assert plain.starts["the"].tolist() == [] and plain.starts["me"].tolist() == []
    # the default also encodes the punctuation: , ; " " - - . are 7 characters of 6 symbols each
    assert len(plain.events) == len(s.events) - 3 + 7 * 6
