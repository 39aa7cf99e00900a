"""What an adversarial model tells the training loop: its GAN hyper-parameters.

Declared by the network class (``gan`` on :class:`tinct.models.gan.GanGenerator` and
:class:`tinct.models.pix2pix.Pix2PixGenerator`, with ``adversarial = True``) and read by the GAN
variant of the training loop (``tinct.train``); plain data, so inference never imports training code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GanHParams:
    """What the GAN variant of the training loop needs to know about an adversarial model.

    Generator loss: ``adv_weight * generator_adversarial_loss(D(L, G(L)), gan_mode)
    + pixel_weight * pixel_loss(G(L), ab)``, with ab as ab / 110. Discriminator loss:
    :func:`discriminator_loss`. Both use Adam with ``lr_g`` / ``lr_d`` and ``betas``. When
    ``pretrain_epochs`` > 0 the generator is first trained alone with the pixel loss at
    ``pretrain_lr`` (seed 002). D sees L and ab concatenated: (B, 3, H, W), both normalised.
    """

    lr_g: float
    lr_d: float
    betas: tuple[float, float] = (0.5, 0.999)
    pixel_loss: str = "l1"  #: "l1" or "mse"
    pixel_weight: float = 100.0
    adv_weight: float = 1.0
    gan_mode: str = "vanilla"  #: "vanilla" (BCE with logits) or "lsgan"
    pretrain_epochs: float = 0.0
    pretrain_lr: float = 1e-4
