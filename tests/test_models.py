"""The networks of the source papers: shapes, parameter counts, the output contract, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tinct.color import AB_SCALE
from tinct.losses import (
    GanHParams,
    PerceptualLoss,
    build_feature_net,
    discriminator_loss,
    gan_loss,
    generator_adversarial_loss,
)
from tinct.models.base import count_parameters
from tinct.registry import ARCHITECTURES, build_architecture

MAX_PARAMS = 12_500_000  # fp16 weights under 25 MB


def _smooth(h: int, w: int, seed: int = 0, batch: int = 1) -> torch.Tensor:
    """A smooth random L image (normalised), so that resizing it loses almost nothing."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 1, 4, 4, generator=g) * 1.6 - 0.8
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True).clamp(-1, 1)


# --- seed 004 Model 1: the layer table of SPEC.md, exactly ------------------------------------

BASELINE_TABLE = [  # (layer, output shape at 256 px as (C, H, W), parameters)
    ("conv1", (32, 256, 256), 320),
    ("conv2", (32, 128, 128), 9_248),
    ("conv3", (64, 128, 128), 18_496),
    ("conv4", (64, 64, 64), 36_928),
    ("conv5", (128, 64, 64), 73_856),
    ("up1", (128, 128, 128), 0),
    ("conv6", (64, 128, 128), 73_792),
    ("up2", (64, 256, 256), 0),
    ("conv7", (32, 256, 256), 18_464),
    ("conv8", (2, 256, 256), 578),
]


def test_baseline_parameter_count_is_exact():
    model = build_architecture("baseline")
    assert count_parameters(model) == 231_682


def test_baseline_layers_match_the_spec_table():
    model = build_architecture("baseline").eval()
    shapes: dict[str, tuple[int, ...]] = {}
    for name, _, _ in BASELINE_TABLE:
        layer = getattr(model.net, name)
        layer.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 256, 256))
    for name, shape, params in BASELINE_TABLE:
        assert shapes[name] == shape, name
        assert count_parameters(getattr(model.net, name)) == params, name
    assert [n for n, m in model.net.named_children() if count_parameters(m)] == [n for n, _, p in BASELINE_TABLE if p]
    assert out.shape == (1, 2, 256, 256)


# --- every architecture in the registry -------------------------------------------------------


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architecture_contract(arch):
    torch.manual_seed(0)
    model = build_architecture(arch)
    assert count_parameters(model) < MAX_PARAMS
    h, w = 64, 96
    assert h % model.multiple == 0 and w % model.multiple == 0
    x = torch.rand(2, 1, h, w) * 2 - 1

    model.train()
    out = model(x)
    assert out.dim() == 4 and out.shape[0] == 2 and torch.isfinite(out).all()
    oh, ow = out.shape[-2:]
    assert h % oh == 0 and w % ow == 0 and h // oh == w // ow  # same (integer) stride in both axes
    if model.kind == "regression":
        assert out.shape[1] == 2
        assert out.abs().max() <= 1.0
    else:
        assert model.kind == "classification"
        assert out.shape[1] == model.num_bins
    out.float().square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(p.grad).all(), name

    model.eval()
    with torch.no_grad():
        ab = model.predict_ab(x)
    assert ab.shape == (2, 2, oh, ow)
    assert ab.abs().max() <= AB_SCALE + 1e-3
    if model.kind == "regression":
        with torch.no_grad():
            assert torch.allclose(ab, model(x) * AB_SCALE)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architecture_accepts_non_square_multiples(arch):
    model = build_architecture(arch).eval()
    m = model.multiple
    with torch.no_grad():
        ab = model.predict_ab(torch.zeros(1, 1, 2 * m, 5 * m))
    assert ab.shape[-1] * 2 == ab.shape[-2] * 5


# --- resolution independence of the global branches --------------------------------------------


def _global_vector(arch: str, model, x: torch.Tensor) -> torch.Tensor:
    return model.global_features(x) if arch == "fusion" else model.embedding(x)


@pytest.mark.parametrize("arch", ["fusion", "koala"])
def test_global_branch_is_resolution_independent(arch):
    torch.manual_seed(0)
    model = build_architecture(arch).eval()
    small = _smooth(128, 128)
    large = F.interpolate(small, size=(256, 256), mode="bilinear", align_corners=False)
    wide = F.interpolate(small, size=(96, 160), mode="bilinear", align_corners=False)
    with torch.no_grad():
        v_small, v_large, v_wide = (_global_vector(arch, model, t) for t in (small, large, wide))
        other = _global_vector(arch, model, _smooth(128, 128, seed=1))
    assert v_small.shape == v_large.shape == v_wide.shape
    assert v_small.dim() == 2 and v_small.shape[0] == 1
    # the same picture at another resolution gives (nearly) the same vector; another picture doesn't
    assert (v_small - v_large).abs().max() < 0.2 * (v_small - other).abs().max()


def test_fusion_class_head():
    model = build_architecture("fusion", num_classes=7)
    ab, logits = model.forward_with_class(torch.rand(2, 1, 64, 96) * 2 - 1)
    assert ab.shape == (2, 2, 32, 48) and logits.shape == (2, 7)
    assert build_architecture("fusion").forward_with_class(torch.zeros(1, 1, 32, 32))[1] is None


def test_koala_frozen_embedding_keeps_eval_mode():
    model = build_architecture("koala", num_classes=5)
    assert model.embedding.classify(torch.zeros(2, 1, 40, 56)).shape == (2, 5)
    model.freeze_embedding()
    model.train()
    assert not model.embedding.training and model.encoder.training
    assert not any(p.requires_grad for p in model.embedding.parameters())


def test_zhang_temperature_is_adjustable_at_inference():
    torch.manual_seed(0)
    model = build_architecture("zhang").eval()
    assert model.temperature == pytest.approx(0.38)
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        ab_default = model.predict_ab(x)
        model.temperature = 1.0
        ab_mean = model.predict_ab(x)
    assert not torch.allclose(ab_default, ab_mean)


# --- discriminators and GAN settings -----------------------------------------------------------


def test_gan_hyperparameters_follow_the_papers():
    gan, p2p = build_architecture("gan"), build_architecture("pix2pix")
    assert gan.adversarial and p2p.adversarial
    assert isinstance(gan.gan, GanHParams) and gan.gan.lr_g == gan.gan.lr_d == 5e-4
    assert gan.gan.pixel_loss == "mse" and gan.gan.gan_mode == "vanilla"
    assert p2p.gan.pixel_loss == "l1" and p2p.gan.pixel_weight == 100 and p2p.gan.pretrain_epochs > 0
    assert build_architecture("pix2pix", gan_mode="lsgan").gan.gan_mode == "lsgan"
    assert p2p.gan.gan_mode == "vanilla"  # the class default is untouched


def test_gan_discriminator_is_image_level():
    d = build_architecture("gan").build_discriminator()
    x = torch.rand(2, 3, 64, 96) * 2 - 1
    logits = d(x)
    assert logits.shape == (2, 1)
    discriminator_loss(logits, d(x.flip(-1)).detach()).backward()
    assert all(torch.isfinite(p.grad).all() for p in d.parameters())


def test_patch_discriminator_is_70x70_patchgan():
    d = build_architecture("pix2pix").build_discriminator()
    assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    # receptive field 70: the logit at (0, 0) depends on input pixels 0..69 only (1 px border of padding)
    x = torch.zeros(1, 3, 96, 96, requires_grad=True)
    d.eval()(x)[0, 0, 0, 0].backward()
    rows = x.grad.abs().sum((0, 1, 3)).nonzero().flatten()
    assert int(rows.max()) - int(rows.min()) + 1 <= 70 and int(rows.max()) < 70


def test_gan_losses():
    real, fake = torch.full((2, 1, 4, 4), 8.0), torch.full((2, 1, 4, 4), -8.0)  # a confident, right D
    assert discriminator_loss(real, fake, "vanilla") < 0.01
    assert generator_adversarial_loss(fake, "vanilla") > 5
    ones, zeros = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)  # LSGAN targets are 1 and 0
    assert discriminator_loss(ones, zeros, "lsgan") == 0
    assert generator_adversarial_loss(zeros, "lsgan") == pytest.approx(1.0)
    assert gan_loss(torch.zeros(3), True, "vanilla") == pytest.approx(0.6931, abs=1e-4)
    assert gan_loss(torch.zeros(3), True, "lsgan") == pytest.approx(1.0)
    with pytest.raises(ValueError):
        gan_loss(real, True, "wgan")


# --- perceptual loss ------------------------------------------------------------------------


def test_perceptual_loss_is_zero_on_truth_and_trains_only_the_colorizer():
    torch.manual_seed(0)
    net = build_feature_net(width=8, num_classes=3)
    loss_fn = PerceptualLoss(net).train()
    assert not net.training
    l_norm = _smooth(32, 48, batch=2)
    ab_true = torch.rand(2, 2, 32, 48) * 0.6 - 0.3
    assert float(loss_fn(l_norm, ab_true, ab_true)) == pytest.approx(0.0, abs=1e-6)
    ab_pred = torch.zeros(2, 2, 16, 24, requires_grad=True)  # half resolution, as some models predict
    loss = loss_fn(l_norm, ab_pred, ab_true)
    loss.backward()
    assert loss > 0 and torch.isfinite(ab_pred.grad).all() and ab_pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 3)
