"""Contract tests over every registered encoder and decoder."""

from __future__ import annotations

import inspect
import pickle

import pytest
import torch

from spikeforge.encoders import DECODERS, ENCODERS

T = 6


def _input(name: str, dtype=torch.float32, gen=None) -> torch.Tensor:
    if ENCODERS.meta(name).get("input") == "signal":
        return torch.rand(T, 3, 4, dtype=dtype, generator=gen).cumsum(0)  # [T, B, C] signal
    return torch.rand(3, 4, dtype=dtype, generator=gen)  # [B, F] intensities in [0, 1]


def _encode(enc, x, seed=0):
    if "generator" in inspect.signature(enc.forward).parameters:
        return enc(x, generator=torch.Generator().manual_seed(seed))
    return enc(x)


@pytest.mark.parametrize("name", ENCODERS.names())
def test_time_major_binary_output(name, gen):
    enc = ENCODERS.create(name, steps=T)
    zs = _encode(enc, _input(name, gen=gen))
    assert zs.shape[0] == T and zs.shape[1] == 3
    if name != "direct":  # direct repeats the analogue value as a current
        assert set(zs.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name", ENCODERS.names())
def test_dtype_preserved(name, gen):
    enc = ENCODERS.create(name, steps=T)
    assert _encode(enc, _input(name, torch.float64, gen)).dtype == torch.float64


@pytest.mark.parametrize("name", ENCODERS.names())
def test_deterministic_given_seed_and_picklable(name, gen):
    enc = ENCODERS.create(name, steps=T)
    x = _input(name, gen=gen)
    a = _encode(enc, x, seed=3)
    torch.testing.assert_close(_encode(pickle.loads(pickle.dumps(enc)), x, seed=3), a, rtol=0, atol=0)


@pytest.mark.parametrize("name", ENCODERS.names())
def test_wrong_dtype_rejected(name):
    enc = ENCODERS.create(name, steps=T)
    x = (_input(name) * 10).long()
    with pytest.raises(TypeError):
        _encode(enc, x)


@pytest.mark.parametrize("name", DECODERS.names())
def test_decoder_reduces_time(name, gen):
    dec = DECODERS.create(name)
    zs = (torch.rand(T, 3, 5, generator=gen) > 0.6).float()
    out = dec(zs)
    assert out.shape == (3, 5)
    with pytest.raises(ValueError):
        dec(torch.rand(5))
