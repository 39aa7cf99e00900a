"""Ship a trained run as a registry model: weights, metrics JSON and model card.

    python scripts/release_model.py runs/lite --name lite [--val ../shared/data/val]
        [--medical ../shared/data/medical/val] [--hardware "2-core CPU"]

Copies RUN/model.safetensors (fp16) to tinct/weights/NAME.safetensors, evaluates it with
`tinct eval` on the validation folders (beside the gray baseline), and writes
tinct/weights/NAME.json (what `tinct models` shows) and tinct/weights/NAME.md (the card).
The registry entry (tinct/registry.py) must exist already.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import shutil
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _mean(summary: dict, model: str, key: str) -> float | None:
    return summary["models"][model]["stats"].get(key, {}).get("mean")


def _scores(summary: dict, model: str) -> dict:
    keys = ["psnr", "psnr_gain", "ssim", "ssim_gain", "mse", "ciede2000", "colourfulness_ratio", "lum_err_max", "ait_s"]
    out = {k: _mean(summary, model, k) for k in keys}
    out.update({f"gray_{k}": _mean(summary, "gray", k) for k in ("psnr", "ssim", "mse", "ciede2000")})
    out["n_images"] = summary["n_images"]
    out["dataset"] = summary["dataset"]
    if "by_source" in summary:  # tinct eval's per-source figures (the val manifest's source column)
        figures = ("psnr_gain", "ciede2000", "colourfulness_ratio")
        out["by_source"] = {
            source: {"n": v["n"], **{k: v["models"][model][k] for k in figures}}
            for source, v in summary["by_source"]["sources"].items()
        }
    return out


def _training_facts(run: Path) -> dict:
    """Steps, wall time, machine, precision and speed of a run: from its summary.json (runs record them,
    the wall time summed over resumed sessions), else, for older runs, the wall time from the gaps
    between log lines (restarts left out) and no machine or precision."""
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    if "wall_time_s" in summary:
        wall = float(summary["wall_time_s"])
    else:
        wall, prev = 0.0, None
        for row in log:
            if prev is not None and row["step"] > prev["step"]:
                wall += row["time"] - prev["time"]
            prev = row
    return {
        "steps": summary.get("steps", log[-1]["step"]),
        "wall_time_s": round(wall),
        "hardware": summary.get("hardware"),
        "precision": summary.get("precision"),
        "images_per_s": summary.get("images_per_s"),
        "last_log": log[-1],
        "summary": summary,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--val", type=Path, default=REPO.parent / "shared" / "data" / "val")
    ap.add_argument("--medical", type=Path, default=REPO.parent / "shared" / "data" / "medical" / "val")
    ap.add_argument("--hardware", default=None, help="the machine (default: what the run recorded, else this CPU)")
    ap.add_argument("--config", default=None, help="config file that reproduces the run")
    ap.add_argument("--notes", default="", help="extra text for the card")
    ap.add_argument("--reproduce", default=None, help="command that reproduces the run (default: tinct train --config)")
    ap.add_argument(
        "--prior-correction",
        type=float,
        default=0.0,
        help="fold beta x the run's rebalancing tilt out of the last layer's bias (classification models; "
        "chosen with scripts/choose_decoding.py on the dev split); the bin prior comes from the run's "
        "model.safetensors or, for older runs, its checkpoint.safetensors",
    )
    ap.add_argument("--card-only", action="store_true", help="only re-render NAME.md from NAME.json (no eval)")
    ap.add_argument(
        "--rescore",
        action="store_true",
        help="shipped weights unchanged (e.g. a new working size or temperature in the registry): re-run the "
        "evaluations, keep the card's training facts and notes (plus --notes, appended)",
    )
    args = ap.parse_args()

    from safetensors import safe_open

    from tinct.backends.hardware import cpu_name
    from tinct.registry import build_architecture, get_spec

    spec = get_spec(args.name)
    if args.card_only:
        card_json = json.loads(spec.metrics_path.read_text())
        notes = args.notes or _card_notes(spec.card_path)
        spec.card_path.write_text(render_card(spec, card_json, notes))
        return
    if args.rescore:
        card_json = json.loads(spec.metrics_path.read_text())
        card_json.update(kwargs=spec.kwargs, **_evaluate(args, args.run / "eval"))
        card_json["rescored"] = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        notes = " ".join(x for x in (_card_notes(spec.card_path), args.notes) if x)
        spec.metrics_path.write_text(json.dumps(card_json, indent=2) + "\n")
        spec.card_path.write_text(render_card(spec, card_json, notes))
        print(json.dumps({k: card_json[k] for k in ("val", "medical_val") if k in card_json}, indent=2))
        return
    shutil.copyfile(args.run / "model.safetensors", spec.weights_path)
    with safe_open(str(spec.weights_path), framework="pt") as f:
        meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
    if args.prior_correction:
        meta = _fold_prior_correction(spec, args.run, args.prior_correction, meta)
    params = sum(p.numel() for p in build_architecture(spec.arch, **spec.kwargs).parameters())
    facts = _training_facts(args.run)
    results = _evaluate(args, args.run / "eval")
    card_json = {
        "name": args.name,
        "arch": spec.arch,
        "kwargs": spec.kwargs,
        "parameters": params,
        "weights_bytes": spec.weights_path.stat().st_size,
        "training": {
            "steps": facts["steps"],
            "wall_time_s": facts["wall_time_s"],
            "hardware": args.hardware or facts["hardware"] or f"{cpu_name()}, {os.cpu_count()} cores",
            "precision": facts["precision"],
            "images_per_s": facts["images_per_s"],
            "config": meta.get("config", {}),
            "config_file": args.config,
            "reproduce": args.reproduce or f"tinct train --config {args.config or 'configs/' + args.name + '.toml'}",
        },
        "released": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        **({"prior_correction": args.prior_correction} if args.prior_correction else {}),
        **results,
    }
    spec.metrics_path.write_text(json.dumps(card_json, indent=2) + "\n")
    spec.card_path.write_text(render_card(spec, card_json, args.notes))
    print(json.dumps(results, indent=2))


def _fold_prior_correction(spec, run: Path, beta: float, meta: dict) -> dict:
    """Rewrite the shipped weights with ``beta`` x the rebalancing tilt taken out of the logits; the
    metadata records beta and the bin prior it came from. Returns the new metadata."""
    from tinct.backends.torch import load_weights
    from tinct.models.quantize import ABQuantizer
    from tinct.registry import build_architecture
    from tinct.train.checkpoint import export_weights, prior_metadata, read_rebalancing
    from tinct.train.config import TrainingError

    try:
        prior, lam, power = read_rebalancing(run / "model.safetensors")
    except TrainingError:
        prior, lam, power = read_rebalancing(run / "checkpoint.safetensors")
    model = build_architecture(spec.arch, **spec.kwargs)
    load_weights(model, spec.weights_path)
    model.shift_logits(-beta * ABQuantizer.rebalance_log_factor(prior, lam, power))
    meta = {**meta, "prior_correction": beta, "bin_prior": prior_metadata(prior)}
    export_weights(model, spec.weights_path, meta)
    return meta


def _evaluate(args: argparse.Namespace, report_root: Path) -> dict:
    """`tinct eval` of the registry model on val (and medical/val): {"val": scores[, "medical_val": scores]}."""
    from tinct.evaluate import run_eval

    val = run_eval(args.val, [args.name], report_root / "val", progress=False, command=f"tinct eval {args.val}")
    results = {"val": _scores(val, args.name)}
    if args.medical and args.medical.is_dir():
        med = run_eval(
            args.medical, [args.name], report_root / "medical", progress=False, command=f"tinct eval {args.medical}"
        )
        results["medical_val"] = _scores(med, args.name)
    return results


def _row(label: str, r: dict) -> str:
    return (
        f"| {label} | {r['n_images']} | {r['gray_psnr']:.2f} | {r['psnr']:.2f} | {r['psnr_gain']:+.2f} | "
        f"{r['gray_ssim']:.3f} | {r['ssim']:.3f} | {r['gray_ciede2000']:.2f} | {r['ciede2000']:.2f} | "
        f"{r['colourfulness_ratio']:.2f} | {r['lum_err_max']:.2f} |"
    )


def _card_notes(card: Path) -> str:
    """The "## Notes" section of an existing card ("" if none)."""
    text = card.read_text() if card.exists() else ""
    return text.split("## Notes\n\n", 1)[1].strip() if "## Notes\n\n" in text else ""


def _is_medical(data: str) -> bool:
    return "medical" in Path(data).parts


@functools.cache  # a card names the count twice; walk the folder once
def _n_images(data: str) -> int:
    """Images in the training folder, counted as training reads them (the split's size if it is absent)."""
    from tinct.train.data import list_images

    try:
        n = len(list_images(data))
    except OSError:
        n = 0
    return n or (103 if _is_medical(data) else 9890)


def _data_words(data: str) -> str:
    if _is_medical(data):
        return (
            f"the project's medical train split, {_n_images(data):,} colour images: DRIVE and CHASE_DB1 fundus "
            "photographs, H&E histology tiles, Kvasir endoscopy frames, scikit-image's retina and IHC samples; "
            "licences in `shared/data/README.md`"
        )
    if Path(data).name == "train.txt" and Path(data).parent.name == "splits":
        return (
            f"the project's shared train split less the dev split of `scripts/make_dev_split.py`: "
            f"{_n_images(data):,} of its {sum(_train_sources().values()):,} colour images, "
            f"{len(_train_sources())} sources ("
            + ", ".join(f"{s} {n:,}" for s, n in _train_sources().most_common())
            + "); licences in `shared/data/README.md`"
        )
    return (
        f"the project's shared train split, {_n_images(data):,} colour images: BSDS500, Set5/Set14, Manga109 "
        "covers, ImageNet samples, flowers, clothing, cats and dogs, Imagenette; licences in `shared/data/README.md`"
    )


@functools.cache
def _train_sources() -> Counter:
    """Images per source of the shared training folder (its manifest.csv)."""
    with (REPO.parent / "shared" / "data" / "train" / "manifest.csv").open(newline="") as f:
        return Counter(row["source"] for row in csv.DictReader(f))


def _optimizer_words(spec, cfg: dict) -> str:
    from tinct.registry import architecture_class

    cls = architecture_class(spec.arch)
    gan = getattr(cls, "gan", None)
    if getattr(cls, "adversarial", False) and gan is not None:
        mode = cfg.get("gan_mode") or gan.gan_mode
        pre = cfg.get("pretrain_steps")
        pre_words = f"{pre} generator-only steps with the pixel loss at lr {gan.pretrain_lr}, then " if pre else ""
        return (
            f"{pre_words}GAN training: Adam (betas {gan.betas}), G lr {gan.lr_g} minimising "
            f"{gan.pixel_weight:g} x {gan.pixel_loss.upper()} + {gan.adv_weight:g} x {mode} adversarial loss, "
            f"D lr {gan.lr_d}, warm-up + cosine"
        )
    loss = cfg.get("loss", "auto")
    if getattr(cls, "kind", "") == "classification":
        what = "soft cross-entropy over ab bins"
        if cfg.get("rebalance_power", 1.0):
            what += (
                f" with class rebalancing (lambda {cfg.get('rebalance_lambda', 0.5):g}, "
                f"power {cfg.get('rebalance_power', 1.0):g})"
            )
        if cfg.get("decoded_weight"):
            what += f" + {cfg['decoded_weight']:g} x smooth L1 of the decoded colour"
    else:
        what = {"auto": "smooth L1", "l1": "L1", "mse": "MSE"}.get(loss, loss) + " on ab"
    if cfg.get("colourfulness_weight"):
        what += f" + {cfg['colourfulness_weight']:g} x the colourfulness deficit of the colour shown"
    if cfg.get("perceptual_weight"):
        what += f" + {cfg['perceptual_weight']:g} x perceptual loss (FeatureNet `{cfg.get('feature_net')}`)"
    return f"{what}, AdamW lr {cfg.get('lr', '?')}, warm-up + cosine"


def _by_source_lines(by_source: dict) -> list[str]:
    """The card's per-source table of val (from the manifest's source column), gray-beaters counted."""
    below = [s for s, v in by_source.items() if v["psnr_gain"] is None or v["psnr_gain"] <= 0]
    verdict = (
        "every source above gray"
        if not below
        else f"{len(below)} of {len(by_source)} sources not above gray ({', '.join(below)})"
    )
    lines = [
        f"Per source of `shared/data/val` (its manifest's `source` column): {verdict}.",
        "",
        "| source | images | PSNR gain | ΔE00 | colourfulness ratio |",
        "|---|---|---|---|---|",
    ]
    for source, v in by_source.items():
        cells = [f"{v['psnr_gain']:+.2f}", f"{v['ciede2000']:.2f}", f"{v['colourfulness_ratio']:.2f}"]
        lines.append(f"| {source} | {v['n']} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_card(spec, c: dict, notes: str) -> str:
    t = c["training"]
    cfg = t["config"]
    lines = [
        f"# Model card: `{spec.name}`",
        "",
        spec.description + ".",
        "",
        "## Facts",
        "",
        f"- Architecture: `{spec.arch}` ({c['parameters']:,} parameters), kwargs {json.dumps(spec.kwargs)}; "
        f"working size {spec.working_size} px (short side, never upscaled).",
        f"- Weights: `tinct/weights/{spec.name}.safetensors`, fp16, {c['weights_bytes'] / 1e6:.1f} MB.",
        f"- Training data: `{cfg.get('data', '?')}` ({_data_words(cfg.get('data', ''))}), random crops of "
        f"{cfg.get('size', '?')} px with scale augmentation"
        + (f" (each crop at least {cfg['min_view']:g} of the image's short side)" if cfg.get("min_view") else "")
        + " and horizontal flips"
        + (
            f"; {cfg['cutmix']:.0%} of them with a rectangle of another image pasted in (CutMix)"
            if cfg.get("cutmix")
            else ""
        )
        + (
            f"; the input L of {cfg['degrade']:.0%} of them degraded as old scans are (tone curve, blur, grain)."
            if cfg.get("degrade")
            else "."
        ),
        ("- Training (this stage; the earlier ones in the notes): " if cfg.get("init") else "- Training: ")
        + f"{t['steps']:,} steps of batch {cfg.get('batch', '?')} (about "
        f"{t['steps'] * cfg.get('batch', 0) / _n_images(cfg.get('data', '')):.1f} epochs), "
        f"{_optimizer_words(spec, cfg)}, "
        f"seed {cfg.get('seed', '?')}.",
        f"- Hardware: {t['hardware']}"
        + (f", precision {t['precision']}" if t.get("precision") else "")
        + f"; wall time {t['wall_time_s'] / 60:.0f} min"
        + (f" ({t['images_per_s']:.1f} images/s)" if t.get("images_per_s") else "")
        + ".",
        *(
            [
                f"- Decoding: annealed mean at T {spec.kwargs.get('temperature', 0.38):g}, with "
                f"{c['prior_correction']:g} of the rebalancing tilt folded out of the head's bias "
                "(`scripts/release_model.py --prior-correction`, chosen on the dev split); "
                f"`tinct colorize --vivid` chooses another share at inference (this one is "
                f"{1 - c['prior_correction']:g})."
            ]
            if c.get("prior_correction")
            else []
        ),
        f"- Reproduce: `{t.get('reproduce') or 'tinct train --config ' + str(t.get('config_file'))}`.",
        (
            f"- Initialised from `{cfg['init']}` (this project's own weights); no other pretrained weights were "
            "used (none can be downloaded here)."
            if cfg.get("init")
            else "- No pretrained weights of any kind were used (none can be downloaded here)."
        ),
        "",
        "## Validation (`tinct eval`, full resolution, original L kept)",
        "",
        "| data | images | gray PSNR | PSNR | gain | gray SSIM | SSIM | gray ΔE00 | ΔE00 | colourfulness ratio "
        "| max ΔL |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        _row("`shared/data/val`", c["val"]),
    ]
    if "medical_val" in c:
        lines.append(_row("`shared/data/medical/val`", c["medical_val"]))
    lines += [
        "",
        f"Average inference time per image on val: {c['val']['ait_s'] * 1000:.0f} ms (batch 1, CPU; val images "
        f"are about 160 px on the short side, seen at {min(spec.working_size, 160)} px).",
        "The colourfulness ratio is mean Hasler-Süsstrunk colourfulness of the outputs over that of the truths "
        "(1.0 = as vivid as reality); max ΔL is the largest CIELAB L difference between output and input.",
        "",
    ]
    if c["val"].get("by_source"):
        lines += _by_source_lines(c["val"]["by_source"])
    if notes:
        lines += ["## Notes", "", notes, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
