"""One optimiser step: the loss of a model kind (:class:`Objective`), the supervised step and the GAN variant,
and the learning-rate schedule they share."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import torch
import torch.nn.functional as F

from tinct.core.color import AB_SCALE
from tinct.models.pix2pix import PatchDiscriminator
from tinct.models.quantize import ABQuantizer, prior_from_images, soft_ce
from tinct.train.config import TrainConfig, TrainingError
from tinct.train.data import CropDataset
from tinct.train.distributed import distribute
from tinct.train.labels import IGNORE, scene_labels
from tinct.train.losses import (
    PerceptualLoss,
    build_feature_net,
    colourfulness_deficit,
    discriminator_loss,
    generator_adversarial_loss,
)
from tinct.train.precision import Precision


class Objective:
    """The loss of a model kind, with what it needs (the bin prior for classification)."""

    def __init__(self, model, cfg: TrainConfig, dataset: CropDataset, device: torch.device, prior=None):
        self.kind = model.kind
        gan = getattr(model, "gan", None)
        self.loss = gan.pixel_loss if (gan is not None and cfg.loss == "auto") else cfg.loss
        self.perceptual, self.perceptual_weight = None, cfg.perceptual_weight
        self.colourfulness_weight = cfg.colourfulness_weight
        if cfg.perceptual_weight > 0:
            if not cfg.feature_net:
                raise TrainingError("perceptual_weight > 0 needs feature_net (a trained FeatureNet's safetensors)")
            from safetensors.torch import load_file

            net = build_feature_net(state_dict={k: v.float() for k, v in load_file(cfg.feature_net).items()})
            self.perceptual = PerceptualLoss(net).to(device)
        if self.kind == "classification":
            self.q: ABQuantizer = model.quantizer
            if prior is None:
                prior = self._estimate_prior(dataset, cfg)
            self.prior = prior.to(device)
            w = ABQuantizer.rebalance_weights(self.prior, cfg.rebalance_lambda)
            self.bin_weight = w**cfg.rebalance_power
            self.decoded_weight = cfg.decoded_weight
            self.temperature = getattr(model, "temperature", 0.38)
            self.chroma_restore = getattr(model, "chroma_restore", 0.0)

    def _estimate_prior(self, dataset: CropDataset, cfg: TrainConfig) -> torch.Tensor:
        rng = random.Random(cfg.seed)
        idx = rng.sample(range(len(dataset)), min(cfg.prior_images, len(dataset)))
        ims = []
        for i in idx:
            t = dataset[i]
            if t is not None:
                ims.append(t.permute(1, 2, 0).numpy())
        return prior_from_images(ims, self.q)

    def __call__(self, out: torch.Tensor, ab: torch.Tensor, l_norm: torch.Tensor | None = None) -> torch.Tensor:
        if self.kind == "classification":
            ab_small = F.adaptive_avg_pool2d(ab, out.shape[-2:])
            target = self.q.encode_soft(ab_small)
            weight = self.bin_weight[self.q.nearest(ab_small)]
            loss = soft_ce(out, target, weight)
            if self.decoded_weight or self.colourfulness_weight:
                shown = self.shown(out)
                if self.decoded_weight:  # held to the truth
                    loss = loss + self.decoded_weight * F.smooth_l1_loss(shown, ab_small / AB_SCALE, beta=0.05)
                loss = loss + self._colourfulness_term(l_norm, shown, ab)
            return loss
        loss = self.pixel(out, ab, l_norm)
        return loss + self._colourfulness_term(l_norm, out, ab)

    def shown(self, out: torch.Tensor) -> torch.Tensor:
        """The colour a classification model will show for its logits ``out``: the annealed mean at its
        temperature, as ab / 110 at the logits' resolution (differentiable)."""
        return self.q.annealed_mean(out, self.temperature, self.chroma_restore) / AB_SCALE

    def _colourfulness_term(self, l_norm: torch.Tensor | None, shown: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """``colourfulness_weight`` x the colourfulness deficit of ``shown`` (ab / 110) against the truth
        ``ab`` (Lab units); 0 when the weight is 0 or no L is given."""
        if not self.colourfulness_weight or l_norm is None:
            return torch.zeros((), device=ab.device)
        return self.colourfulness_weight * colourfulness_deficit(l_norm[:, :1], shown, ab / AB_SCALE)

    def pixel(self, out: torch.Tensor, ab: torch.Tensor, l_norm: torch.Tensor | None = None) -> torch.Tensor:
        """Regression loss of ab / 110 at the output's resolution (+ perceptual term if set)."""
        ab_t = F.adaptive_avg_pool2d(ab, out.shape[-2:]) / AB_SCALE
        out = out.float()
        if self.loss == "mse":
            loss = F.mse_loss(out, ab_t)
        elif self.loss == "l1":
            loss = F.l1_loss(out, ab_t)
        else:
            loss = F.smooth_l1_loss(out, ab_t, beta=0.05)
        if self.perceptual is not None and l_norm is not None:
            l_small = F.adaptive_avg_pool2d(l_norm[:, :1], out.shape[-2:])
            loss = loss + self.perceptual_weight * self.perceptual(l_small, out, ab_t)
        return loss


def lr_lambda(cfg: TrainConfig, total: int, start: int = 0, scale_before: float = 1.0):
    """Linear warm-up then cosine decay to 5% over steps [start, total); ``scale_before`` applies
    before ``start`` (the generator's pre-training phase of adversarial models)."""

    def f(step: int) -> float:
        if step < start:
            return scale_before
        s = step - start
        if s < cfg.warmup:
            return (s + 1) / cfg.warmup
        t = (s - cfg.warmup) / max(1, total - start - cfg.warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def _check_finite(losses: dict[str, torch.Tensor], step: int) -> None:
    for name, value in losses.items():
        if not torch.isfinite(value):
            raise TrainingError(f"non-finite {name} ({value.item()}) at step {step}; stopped.")


def _critic_inputs(l_norm: torch.Tensor, ab: torch.Tensor, size: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
    """What a conditional critic sees at a model's output ``size``: L pooled to it, and the real
    pair (L, truth's ab / 110) stacked; a fake pair is that L beside the model's colour."""
    l_small = F.adaptive_avg_pool2d(l_norm[:, :1], size)
    return l_small, torch.cat([l_small, F.adaptive_avg_pool2d(ab, size) / AB_SCALE], 1)


class SupervisedStep:
    """One optimiser step of a regression or classification model (AdamW, warm-up + cosine)."""

    def __init__(
        self,
        model,
        objective: Objective,
        cfg: TrainConfig,
        total: int,
        device: torch.device,
        precision: Precision,
        heads: dict[str, torch.nn.Module] | None = None,
    ):
        """``heads``: modules trained beside the model and never exported (e.g. :class:`SceneStep`'s
        classifier), each a further parameter group of the model's AdamW on the same schedule, and
        checkpointed under its name."""
        self.model, self.objective, self.precision = distribute(model, device), objective, precision
        heads = heads or {}
        groups = [{"params": list(module.parameters())} for module in (model, *heads.values())]
        self.params = [p for group in groups for p in group["params"]]  # what the gradient clip sees
        self.opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda(cfg, total))
        self.optimizers = {"opt": self.opt}
        self.schedulers = {"sched": self.sched}
        self.modules: dict[str, torch.nn.Module] = dict(heads)  # checkpointed unwrapped

    def __call__(
        self, step: int, l_norm: torch.Tensor, ab: torch.Tensor, index: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """One step on the model's input ``l_norm`` (normalised L, plus a hint model's hint channels);
        ``index``: each crop's image in the dataset (read by :class:`SceneStep`)."""
        with self.precision.autocast():
            loss = self.objective(self.model(l_norm), ab, l_norm)
        return self.optimise({"loss": loss}, step)

    def optimise(self, losses: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """The model's optimiser step on ``losses["loss"]`` (every loss checked finite first; gradients
        of the model and its heads clipped to norm 5), then the loss scale and the schedule; returns
        ``losses``."""
        _check_finite(losses, step)
        self.precision.step(losses["loss"], self.opt, self.params, clip=5.0)
        self.precision.update()
        self.sched.step()
        return losses


class CriticStep(SupervisedStep):
    """A classification model's supervised step with an adversarial term (``adversarial_weight`` > 0).

    A small conditional PatchGAN critic D (width 32, two strided layers) sees (L, ab / 110) at the
    logits' resolution and learns, with Adam (lr ``cfg.lr``, betas 0.5 / 0.999) on the same schedule,
    to tell the truth from the colour the model shows (:meth:`Objective.shown`); the model minimises
    its cross-entropy objective + ``adversarial_weight`` x the generator's adversarial loss, with
    its AdamW and gradient clipping as in :class:`SupervisedStep`. ``cfg.gan_mode``: "lsgan" (default)
    or "vanilla".
    """

    def __init__(
        self, model, objective: Objective, cfg: TrainConfig, total: int, device: torch.device, precision: Precision
    ):
        if model.kind != "classification":
            raise TrainingError(f"adversarial_weight needs a classification model; {cfg.model} is {model.kind}")
        super().__init__(model, objective, cfg, total, device, precision)
        disc = precision.prepare(PatchDiscriminator(width=32, n_layers=2).to(device))
        self.disc = distribute(disc, device)
        self.opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, lr_lambda(cfg, total))
        self.optimizers["opt_d"] = self.opt_d
        self.schedulers["sched_d"] = self.sched_d
        self.modules = {"disc": disc}  # checkpointed unwrapped
        self.weight, self.mode = cfg.adversarial_weight, cfg.gan_mode or "lsgan"

    def __call__(
        self, step: int, l_norm: torch.Tensor, ab: torch.Tensor, index: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        amp = self.precision
        with amp.autocast():
            out = self.model(l_norm)
            objective = self.objective(out, ab, l_norm)
            shown = self.objective.shown(out)
            l_small, real = _critic_inputs(l_norm, ab, shown.shape[-2:])
            fake = torch.cat([l_small, shown.detach().to(l_small.dtype)], 1)
            loss_d = discriminator_loss(self.disc(real), self.disc(fake), self.mode)
        _check_finite({"loss_d": loss_d}, step)
        amp.step(loss_d, self.opt_d)
        with amp.autocast():
            adv = generator_adversarial_loss(self.disc(torch.cat([l_small, shown.to(l_small.dtype)], 1)), self.mode)
            loss = objective + self.weight * adv
        losses = self.optimise({"loss": loss, "loss_d": loss_d, "loss_adv": adv, "loss_objective": objective}, step)
        self.sched_d.step()
        return losses


class SceneStep(SupervisedStep):
    """A supervised step with a joint scene-classification term (``scene_weight`` > 0; Iizuka et al.).

    A linear head on the model's whole-image features (the output of its ``scene_features`` module,
    averaged over positions) names each crop's scene (:func:`tinct.train.labels.scene_labels`: the
    data's own sources and classes; ``self.classes`` in the head's order); the model minimises its
    objective + ``scene_weight`` x that cross-entropy (images without a label are ignored). The head
    is one of :class:`SupervisedStep`'s ``heads``: trained with the model, checkpointed and resumed,
    never exported (the released network is the colour network alone).
    """

    def __init__(
        self,
        model,
        objective: Objective,
        cfg: TrainConfig,
        total: int,
        device: torch.device,
        precision: Precision,
        dataset: CropDataset,
    ):
        layer = getattr(model, "scene_features", None)
        if layer is None:
            raise TrainingError(f"scene_weight needs a model with whole-image features; {cfg.model} has none")
        labels, self.classes = scene_labels(dataset.paths, cfg.scene_min_images)
        if not self.classes:
            raise TrainingError(
                f"scene_weight: no scene labels in {cfg.data} (no manifest.csv with a source column, and no "
                f"folder holds {cfg.scene_min_images} images); set scene_weight = 0"
            )
        self.labels = torch.tensor(labels, dtype=torch.long)
        head = torch.nn.Linear(model.scene_channels, len(self.classes)).to(device)
        super().__init__(model, objective, cfg, total, device, precision, heads={"scene": head})
        self.head, self.weight = distribute(head, device), cfg.scene_weight
        self._features: torch.Tensor | None = None  # set by the hook during this step's forward only
        self._capturing = False
        model.get_submodule(layer).register_forward_hook(self._capture)

    def _capture(self, _module, _inputs, out: torch.Tensor) -> None:
        if self._capturing:  # not in validation or sample grids between steps
            self._features = out

    def __call__(
        self, step: int, l_norm: torch.Tensor, ab: torch.Tensor, index: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        if index is None:
            raise TrainingError("scene_weight needs each crop's image index")
        target = self.labels[index.cpu()].to(l_norm.device)
        self._capturing = True
        try:
            with self.precision.autocast():
                out = self.model(l_norm)
                objective = self.objective(out, ab, l_norm)
                pooled = self._features.float().mean((2, 3))
        finally:
            self._capturing, self._features = False, None
        logits = self.head(pooled)
        scene = F.cross_entropy(logits, target, ignore_index=IGNORE) if (target != IGNORE).any() else logits.sum() * 0
        loss = objective + self.weight * scene
        return self.optimise({"loss": loss, "loss_objective": objective, "loss_scene": scene}, step)


class AdversarialStep:
    """The GAN variant (seeds 000, 001, 002): a discriminator step, then a generator step.

    Hyper-parameters come from the model's ``gan`` (:class:`tinct.losses.GanHParams`). For the
    first ``pretrain`` steps the generator is trained alone with the pixel loss (seed 002).
    D sees (L, ab / 110) stacked; G minimises ``adv_weight * adv + pixel_weight * pixel``.
    """

    def __init__(
        self,
        model,
        objective: Objective,
        cfg: TrainConfig,
        total: int,
        device: torch.device,
        n_images: int,
        precision: Precision,
    ):
        self.model, self.objective, self.precision = distribute(model, device), objective, precision
        hp = model.gan if cfg.gan_mode is None else replace(model.gan, gan_mode=cfg.gan_mode)
        self.hp = hp
        disc = precision.prepare(model.build_discriminator().to(device))
        self.disc = distribute(disc, device)
        default_pre = int(hp.pretrain_epochs * n_images / cfg.batch)
        self.pretrain = min(total, cfg.pretrain_steps if cfg.pretrain_steps is not None else default_pre)
        self.opt_g = torch.optim.Adam(model.parameters(), lr=hp.lr_g, betas=hp.betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=hp.lr_d, betas=hp.betas)
        pre_scale = hp.pretrain_lr / hp.lr_g
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, lr_lambda(cfg, total, self.pretrain, pre_scale))
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, lr_lambda(cfg, total, self.pretrain))
        self.optimizers = {"opt": self.opt_g, "opt_d": self.opt_d}
        self.schedulers = {"sched": self.sched_g, "sched_d": self.sched_d}
        self.modules = {"disc": disc}  # checkpointed unwrapped

    def __call__(
        self, step: int, l_norm: torch.Tensor, ab: torch.Tensor, index: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        amp = self.precision
        with amp.autocast():
            fake = self.model(l_norm)
            pixel = self.objective.pixel(fake, ab, l_norm)
        if step < self.pretrain:
            losses = {"loss": pixel}
            _check_finite(losses, step)
            amp.step(pixel, self.opt_g)
            amp.update()
            self.opt_d.step()  # no gradients: a no-op that keeps D's schedule in step with G's
            self.sched_g.step()
            self.sched_d.step()
            return losses
        mode = self.hp.gan_mode
        with amp.autocast():
            l_small, real = _critic_inputs(l_norm, ab, fake.shape[-2:])
            loss_d = discriminator_loss(self.disc(real), self.disc(torch.cat([l_small, fake.detach()], 1)), mode)
        _check_finite({"loss_d": loss_d}, step)
        amp.step(loss_d, self.opt_d)
        with amp.autocast():
            adv = generator_adversarial_loss(self.disc(torch.cat([l_small, fake], 1)), mode)
            loss_g = self.hp.adv_weight * adv + self.hp.pixel_weight * pixel
        losses = {"loss": loss_g, "loss_d": loss_d, "loss_adv": adv, "loss_pixel": pixel}
        _check_finite(losses, step)
        amp.step(loss_g, self.opt_g)
        amp.update()
        self.sched_g.step()
        self.sched_d.step()
        return losses
