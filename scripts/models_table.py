"""Print docs/MODELS.md's comparison table from the model cards and the benchmark figures.

    python benchmarks/models.py --threads 1 --megapixels 12 --json benchmarks/models.json
    python scripts/models_table.py [--bench benchmarks/models.json]

One row per registry model: paper, parameters, GMACs at 256 px, CPU ms at 256 px (network only)
and seconds per 12 MP photo (end to end), training budget, working size (the short side the
network sees; never upscaled, so a 160 px val image is seen at 160 px by a 256 px model), then on
val and on medical/val:
PSNR, gain over gray, SSIM, CIEDE2000, colourfulness ratio. Validation figures come from the
cards (tinct/weights/NAME.json, written by scripts/release_model.py from `tinct eval`); a model
without a card prints dashes. The gray baseline is the first row.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _arch_key(spec) -> str:
    """The benchmark's name for a registry model's network: its architecture with the constructor
    arguments that change the network (not the decoding), as `benchmarks/models.py --archs` writes it."""
    shape = {k: v for k, v in spec.kwargs.items() if k not in ("temperature", "chroma_restore")}
    return spec.arch + (":" + ",".join(f"{k}={v}" for k, v in shape.items()) if shape else "")


def rows(bench: dict) -> list[str]:
    from tinct.registry import DEFAULT_MODEL, MODELS

    archs, e2e = bench.get("archs", {}), bench.get("end_to_end", {})
    head = (
        "| model | paper | params | GMACs 256 px | CPU ms 256 px | CPU s 12 MP | training | working size | "
        "val PSNR | val gain | val SSIM | val ΔE00 | val colourf. | med PSNR | med gain | med SSIM | med ΔE00 "
        "| med colourf. |"
    )
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    gray = None
    for spec in MODELS.values():
        card = spec.card_metrics()
        if card.get("val") and card.get("medical_val"):
            gray = card
            break
    if gray:
        v, m = gray["val"], gray["medical_val"]
        out.append(
            f"| gray (baseline) | - | 0 | 0 | 0 | {_f(e2e.get('(no network)'), '.2f')} | - | - | "
            f"{v['gray_psnr']:.2f} | +0.00 | {v['gray_ssim']:.3f} | {v['gray_ciede2000']:.2f} | 0.00 | "
            f"{m['gray_psnr']:.2f} | +0.00 | {m['gray_ssim']:.3f} | {m['gray_ciede2000']:.2f} | 0.00 |"
        )
    for spec in MODELS.values():
        card = spec.card_metrics()
        a = archs.get(_arch_key(spec), archs.get(spec.arch, {}))
        t = card.get("training", {})
        cfg = t.get("config", {})
        budget = f"{t['steps']:,} x {cfg.get('batch', '?')} @ {cfg.get('size', '?')} px" if t.get("steps") else "-"
        chain = re.fullmatch(r"configs/(\w+)/stage(\d+)\.safetensors", cfg.get("init") or "")
        if chain:  # one stage of a training chain: the card's notes hold every stage
            # the stage's own config names it (a chain may skip the numbers of branches that lost)
            own = re.fullmatch(r"configs/\w+/stage(\d+)\.toml", t.get("config_file") or "")
            stage = int(own[1]) if own else int(chain[2]) + 1
            budget += f", stage {stage} of a chain (`configs/{chain[1]}/STAGES.md`)"
        elif cfg.get("init"):  # fine-tuned: say from what
            budget += f" from `{Path(cfg['init']).parent.name if 'runs' in cfg['init'] else Path(cfg['init']).stem}`"
        if "medical" in Path(cfg.get("data", "")).parts:
            budget += " on medical/train"
        v, m = card.get("val", {}), card.get("medical_val", {})
        name = f"`{spec.name}`" + (" (default)" if spec.name == DEFAULT_MODEL else "")
        out.append(
            f"| {name} | {spec.paper or 'tinct'} | {_f(card.get('parameters', a.get('parameters')), ',')} | "
            f"{_f(a.get('gmacs'), '.2f')} | {_f(a.get('ms'), '.0f')} | {_f(e2e.get(spec.name), '.2f')} | {budget} | "
            f"{spec.working_size} px | "
            f"{_f(v.get('psnr'), '.2f')} | {_f(v.get('psnr_gain'), '+.2f')} | {_f(v.get('ssim'), '.3f')} | "
            f"{_f(v.get('ciede2000'), '.2f')} | {_f(v.get('colourfulness_ratio'), '.2f')} | "
            f"{_f(m.get('psnr'), '.2f')} | {_f(m.get('psnr_gain'), '+.2f')} | {_f(m.get('ssim'), '.3f')} | "
            f"{_f(m.get('ciede2000'), '.2f')} | {_f(m.get('colourfulness_ratio'), '.2f')} |"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=REPO / "benchmarks" / "models.json")
    args = ap.parse_args()
    bench = json.loads(args.bench.read_text()) if args.bench.exists() else {}
    print("\n".join(rows(bench)))
    if bench:
        print(
            f"\nCPU figures: {bench.get('threads')} thread(s), network alone at {bench.get('size')} px "
            f"(median of 5) and end to end on a {bench.get('megapixels')} MP photo (median of 3)."
        )


if __name__ == "__main__":
    main()
