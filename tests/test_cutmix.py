"""tinct.train.cutmix: a rectangle of another image of the batch, pasted into input and colour alike."""

from __future__ import annotations

import pytest
import torch

from tinct.train import TrainConfig, TrainingError
from tinct.train import cutmix as cm


def _batch(b: int = 16, size: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    """Image i is flat: L = i / b (normalised), ab = (i, -i): every pixel says which image it came from."""
    idx = torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1)
    l_norm = (idx / b).expand(b, 1, size, size).clone()
    ab = torch.cat([idx, -idx], 1).expand(b, 2, size, size).clone()
    return l_norm, ab


def test_p_zero_is_the_identity_and_a_batch_of_one_has_nothing_to_mix():
    l_norm, ab = _batch()
    assert cm.cut_mix(l_norm, ab, cm.cutmix_generator(0, 0), 0.0) == (l_norm, ab)
    one = _batch(b=1)
    out = cm.cut_mix(*one, cm.cutmix_generator(0, 0), 1.0)
    assert out[0] is one[0] and out[1] is one[1]


def test_each_chosen_image_takes_one_rectangle_of_one_other_image_in_input_and_colour_alike():
    b, size = 16, 24
    l_norm, ab = _batch(b, size)
    out_l, out_ab = cm.cut_mix(l_norm, ab, cm.cutmix_generator(5, 9), 1.0)
    assert out_l.shape == l_norm.shape and out_ab.shape == ab.shape and out_ab.dtype == ab.dtype
    assert torch.equal(l_norm, _batch(b, size)[0])  # the inputs are not modified
    for i in range(b):
        source_l = torch.round(out_l[i, 0] * b).long()  # which image each pixel of L came from
        source_ab = out_ab[i, 0].long()
        assert torch.equal(source_l, source_ab)  # the pair stays a true pair: the same image everywhere
        assert torch.equal(out_ab[i, 1], -out_ab[i, 0])
        others = source_ab != i
        partners = source_ab[others].unique()
        assert partners.numel() == 1 and int(partners) != i  # one other image
        rows, cols = others.nonzero().unbind(1)
        h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert int(others.sum()) == h * w  # a filled rectangle
        assert cm.AREA[0] - 0.05 <= h * w / size**2 <= cm.AREA[1] + 0.05
        assert 1 / cm.MAX_ASPECT - 0.15 <= w / h <= cm.MAX_ASPECT + 0.25


def test_only_the_chosen_images_change_and_the_draws_are_a_function_of_seed_step_and_rank():
    l_norm, ab = _batch(b=64)
    out_l, out_ab = cm.cut_mix(l_norm, ab, cm.cutmix_generator(1, 2), 0.3)
    chosen = torch.rand(64, 6, generator=cm.cutmix_generator(1, 2))[:, 0] < 0.3  # the function's first draw
    changed = torch.tensor([not torch.equal(o, i) for o, i in zip(out_ab, ab, strict=True)])
    assert torch.equal(changed, chosen) and 5 < int(chosen.sum()) < 40
    assert torch.equal(out_l, cm.cut_mix(l_norm, ab, cm.cutmix_generator(1, 2), 0.3)[0])
    for other in ((1, 3, 0), (2, 2, 0), (1, 2, 1)):
        assert not torch.equal(out_l, cm.cut_mix(l_norm, ab, cm.cutmix_generator(*other), 0.3)[0]), other


def test_bad_arguments_are_refused(smoke_dir):
    l_norm, ab = _batch()
    with pytest.raises(ValueError, match="cutmix probability"):
        cm.cut_mix(l_norm, ab, cm.cutmix_generator(0, 0), 1.5)
    with pytest.raises(ValueError, match="not one batch"):
        cm.cut_mix(l_norm, ab[:8], cm.cutmix_generator(0, 0), 0.5)
    with pytest.raises(TrainingError, match="cutmix is a probability"):
        TrainConfig(data=str(smoke_dir), cutmix=-0.1).check()
