"""The kernel output cache must never hand out memory that anything still refers to."""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels import _cache, available_backends, cache_info, empty_cache, set_cache_limit
from spikeforge.kernels._cache import MIN_BYTES, OutputCache
from spikeforge.neurons import LIF

BIG = (MIN_BYTES // 4,)  # float32 elements filling exactly MIN_BYTES


def _fresh_cache() -> OutputCache:
    return OutputCache(max_bytes=8 * MIN_BYTES)


def test_storage_reused_only_after_its_tensor_dies():
    cache = _fresh_cache()
    a = cache.empty(BIG, torch.float32)
    b = cache.empty(BIG, torch.float32)
    assert a.data_ptr() != b.data_ptr()  # both alive: distinct memory
    ptr = a.data_ptr()
    del a
    c = cache.empty((2, BIG[0] // 2), torch.float32)  # same byte size, other shape
    assert c.data_ptr() == ptr and c.shape == (2, BIG[0] // 2) and c.is_contiguous()
    assert cache.info()["storages"] == 2


@pytest.mark.parametrize("holder", ["view", "numpy", "autograd", "storage"])
def test_any_reference_keeps_a_storage_busy(holder):
    cache = _fresh_cache()
    a = cache.empty(BIG, torch.float32)
    a.fill_(3.0)
    w = torch.ones((), requires_grad=True)
    if holder == "view":
        keep = a[10:20]
    elif holder == "numpy":
        keep = a.numpy()
    elif holder == "autograd":
        keep = (a * w).sum()  # a saved for the backward of the product
    else:
        keep = a.untyped_storage()
    ptr = a.data_ptr()
    del a
    b = cache.empty(BIG, torch.float32)
    assert b.data_ptr() != ptr
    b.fill_(-1.0)
    if holder == "autograd":
        keep.backward()
        assert w.grad.item() == pytest.approx(3.0 * BIG[0])
    del keep


def test_small_outputs_and_disabled_cache_are_not_cached():
    cache = _fresh_cache()
    cache.empty((16,), torch.float32)
    assert cache.info()["storages"] == 0
    off = OutputCache(max_bytes=0)
    off.empty(BIG, torch.float32)
    assert off.info()["storages"] == 0


def test_limit_evicts_idle_storages_oldest_first():
    cache = OutputCache(max_bytes=2 * MIN_BYTES)
    a = cache.empty(BIG, torch.float32)
    b = cache.empty(BIG, torch.float32)
    c = cache.empty(BIG, torch.float32)  # over the limit while a and b are busy: not cached
    assert cache.info()["storages"] == 2
    del a
    d = cache.empty((MIN_BYTES // 8,), torch.float64)  # same bytes: takes a's storage
    assert cache.info() == {"storages": 2, "bytes": 2 * MIN_BYTES, "idle_bytes": 0}
    del b, c, d
    assert cache.info()["idle_bytes"] == 2 * MIN_BYTES
    cache.clear()
    assert cache.info()["storages"] == 0


def test_in_place_use_of_an_output_is_allowed():
    t = _fresh_cache().empty(BIG, torch.float32)
    t.zero_().add_(1.0)
    assert t._base is None and t.sum().item() == BIG[0]


@pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")
def test_kernel_outputs_kept_by_the_caller_are_never_overwritten(gen):
    """Two runs whose outputs are both kept: the second must not write into the first's memory."""
    shape = (8, 4, MIN_BYTES // (8 * 4 * 4))  # [T, B, N] exactly MIN_BYTES of float32
    x1 = torch.randn(shape, generator=gen) + 0.8
    x2 = torch.randn(shape, generator=gen) + 0.8
    ref = LIF(backend="torch")
    m = LIF(backend="cpp")
    z1, _ = m.run(x1)
    z2, _ = m.run(x2)
    assert z1.data_ptr() != z2.data_ptr()
    assert torch.equal(z1, ref.run(x1)[0]) and torch.equal(z2, ref.run(x2)[0])
    x = x1.clone().requires_grad_()
    z = m(x)
    (z * torch.linspace(0, 1, z.numel()).view(shape)).sum().backward()
    g_first = x.grad.clone()
    del z
    x.grad = None
    z = m(x)
    (z * torch.linspace(0, 1, z.numel()).view(shape)).sum().backward()  # reuses freed storages
    assert torch.equal(x.grad, g_first)


def test_global_controls(monkeypatch):
    set_cache_limit(0)
    try:
        assert cache_info()["bytes"] == 0 or cache_info()["idle_bytes"] == 0
    finally:
        set_cache_limit(1 << 30)
    empty_cache()
    assert cache_info()["storages"] == 0
    with pytest.raises(ValueError, match="max_bytes must be >= 0"):
        set_cache_limit(-1)
    monkeypatch.setenv("SPIKEFORGE_KERNEL_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="SPIKEFORGE_KERNEL_CACHE_MB must be a number"):
        _cache._default_limit()
    monkeypatch.setenv("SPIKEFORGE_KERNEL_CACHE_MB", "-5")
    with pytest.raises(ValueError, match=">= 0"):
        _cache._default_limit()
    monkeypatch.setenv("SPIKEFORGE_KERNEL_CACHE_MB", "64")
    assert _cache._default_limit() == 64 << 20
