"""digits16: sklearn digits as 1x16x16 images (bilinear 2x upsampling, align_corners=False)."""

from __future__ import annotations

import torch

from spikeforge.data import DATASETS


def test_digits16_is_digits_upsampled_bilinear() -> None:
    up, base = DATASETS.create("digits16", "test"), DATASETS.create("digits", "test")
    assert up.x.shape == (449, 1, 16, 16) and torch.equal(up.y, base.y)
    assert DATASETS.meta("digits16")["input_shape"] == (1, 16, 16)
    img = base.x.reshape(-1, 8, 8).double()
    # output pixel 2i+1 sits at source coordinate i + 0.25: weights 0.75 (pixel i), 0.25 (pixel i+1)
    for i, j in [(0, 0), (3, 5), (6, 2)]:
        w = torch.tensor([[0.75 * 0.75, 0.75 * 0.25], [0.25 * 0.75, 0.25 * 0.25]], dtype=torch.float64)
        expect = (img[:, i:i + 2, j:j + 2] * w).sum((1, 2))
        torch.testing.assert_close(up.x[:, 0, 2 * i + 1, 2 * j + 1].double(), expect, rtol=0, atol=1e-6)
    # the border row 0 clamps to source row 0
    torch.testing.assert_close(up.x[:, 0, 0, 0].double(), img[:, 0, 0], rtol=0, atol=1e-6)
