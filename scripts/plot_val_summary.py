"""Merge the val reports of released models into one PSNR-gain plot (docs/images/eval_val_summary.png).

    python scripts/plot_val_summary.py RUN_EVAL_DIR... [--out docs/images/eval_val_summary.png]

Each argument is a `tinct eval` report folder holding summary.json (scripts/release_model.py writes
RUN/eval/val); every one must cover the same images. The bars are the models' mean PSNR gain over
gray with their 95% bootstrap CIs, as in each report's own summary.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tinct.evaluate import summary_png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/images/eval_val_summary.png"))
    ap.add_argument("--width", type=int, default=960)
    args = ap.parse_args()
    merged: dict = {"models": {}}
    for report in args.reports:
        summary = json.loads((report / "summary.json").read_text())
        if merged.get("n_images", summary["n_images"]) != summary["n_images"]:
            raise SystemExit(f"{report}: {summary['n_images']} images, the others {merged['n_images']}")
        merged["n_images"] = summary["n_images"]
        merged["models"].update({k: v for k, v in summary["models"].items() if k != "gray"})
    args.out.write_bytes(summary_png(merged, width=args.width))
    print(f"wrote {args.out} ({len(merged['models'])} models)")


if __name__ == "__main__":
    main()
