"""tinct.train.degrade: scan-like input degradations for training (tone curve, blur, grain)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinct.train import TrainConfig, TrainingError
from tinct.train import degrade as dg


def _texture(b: int = 16, size: int = 32) -> torch.Tensor:
    """A batch of normalised L (-1..1) with edges and mid-tones: a checkerboard under a ramp."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    board = ((x // 4 + y // 4) % 2).float() * 0.6 + x.float() / size * 0.3 + 0.05  # 0.05..0.95
    return (board * 2 - 1).expand(b, 1, size, size).clone()


def _high_freq(x: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared difference of horizontal neighbours (falls when an image is blurred)."""
    return (x[..., 1:] - x[..., :-1]).pow(2).mean(dim=(1, 2, 3))


def test_p_zero_is_the_identity_and_p_one_changes_every_image():
    l_norm = _texture()
    assert dg.degrade_l(l_norm, dg.degrade_generator(0, 0), 0.0) is l_norm
    out = dg.degrade_l(l_norm, dg.degrade_generator(0, 0), 1.0)
    assert out.shape == l_norm.shape and out.dtype == l_norm.dtype
    assert float(out.min()) >= -1 and float(out.max()) <= 1
    assert all(not torch.equal(o, i) for o, i in zip(out, l_norm, strict=True))
    assert torch.equal(l_norm, _texture())  # the input is not modified


def test_draws_are_a_function_of_seed_step_and_rank():
    l_norm = _texture()
    a = dg.degrade_l(l_norm, dg.degrade_generator(3, 7, 1), 0.5)
    assert torch.equal(a, dg.degrade_l(l_norm, dg.degrade_generator(3, 7, 1), 0.5))
    for other in ((3, 8, 1), (4, 7, 1), (3, 7, 0)):
        assert not torch.equal(a, dg.degrade_l(l_norm, dg.degrade_generator(*other), 0.5)), other


def test_only_the_chosen_images_change_bit_for_bit():
    l_norm = _texture(b=64)
    out = dg.degrade_l(l_norm, dg.degrade_generator(1, 2), 0.3)
    chosen = torch.rand(64, 5, generator=dg.degrade_generator(1, 2))[:, 0] < 0.3  # the function's first draw
    changed = torch.tensor([not torch.equal(o, i) for o, i in zip(out, l_norm, strict=True)])
    assert torch.equal(changed, chosen) and 5 < int(chosen.sum()) < 40


def test_each_degradation_does_what_it_says(monkeypatch):
    l_norm = _texture(b=32)
    gen = dg.degrade_generator(0, 1)
    for name in ("MAX_LOG_GAMMA", "MAX_CONTRAST", "MAX_GRAIN"):  # blur alone (sigma 0-1.2): edges soften, never sharpen
        monkeypatch.setattr(dg, name, 0.0)
    blurred = dg.degrade_l(l_norm, gen, 1.0)
    assert bool((_high_freq(blurred) <= _high_freq(l_norm) + 1e-6).all())
    assert float((_high_freq(blurred) < 0.9 * _high_freq(l_norm)).float().mean()) > 0.5
    assert torch.allclose(blurred.mean(dim=(1, 2, 3)), l_norm.mean(dim=(1, 2, 3)), atol=0.02)  # tone kept

    monkeypatch.setattr(dg, "MAX_BLUR", 0.0)
    monkeypatch.setattr(dg, "MAX_LOG_GAMMA", 0.35)  # tone alone: a monotonic curve, so the order of values is kept
    toned = dg.degrade_l(l_norm, dg.degrade_generator(0, 2), 1.0)
    for o, i in zip(toned, l_norm, strict=True):
        order = np.argsort(i.flatten().numpy(), kind="stable")
        assert bool(np.all(np.diff(o.flatten().numpy()[order]) >= -1e-6))
    assert float((toned - l_norm).abs().max()) > 0.05

    monkeypatch.setattr(dg, "MAX_LOG_GAMMA", 0.0)
    monkeypatch.setattr(dg, "MAX_GRAIN", 3.0)  # grain alone: zero-mean noise of at most 3 L units (0.06 normalised)
    flat = torch.zeros(32, 1, 64, 64)  # mid-gray, far from clipping
    grainy = dg.degrade_l(flat, dg.degrade_generator(0, 3), 1.0)
    sd = grainy.std(dim=(1, 2, 3))
    assert float(sd.max()) < 0.06 * 1.1 and float(sd.max()) > 0.02 and abs(float(grainy.mean())) < 0.005


def test_a_probability_outside_0_1_is_refused(smoke_dir):
    with pytest.raises(ValueError, match="degrade probability"):
        dg.degrade_l(_texture(), dg.degrade_generator(0, 0), 1.5)
    with pytest.raises(TrainingError, match="degrade is a probability"):
        TrainConfig(data=str(smoke_dir), degrade=-0.1).check()
