#!/usr/bin/env bash
# Reproduce the shipped `lite` and `lite-plain` weights from scratch (four stages, ~5 h on 2 CPU cores):
#   1. configs/lite.toml           2,000 steps, class rebalancing power 0.5       -> runs/lite
#   2. configs/lite-finetune.toml  +600 steps without rebalancing                 -> runs/lite-ft  (= lite-plain)
#   3. configs/lite-mid.toml       +1,000 steps at rebalancing power 0.25         -> runs/lite-mid (lite-hints starts here)
#   4. configs/lite-whole.toml     +4,800 steps on near-whole views (min_view 0.75), from stage 3's
#                                  weights with a fresh optimizer                  -> runs/lite-whole (= lite)
# Each stage resumes from a copy of the previous one's checkpoint. Add `device = "cuda"` to the
# configs (or pass --device cuda) on a GPU. Then ship with scripts/release_model.py.
set -euo pipefail
cd "$(dirname "$0")/.."
# --resume where the config's run folder holds a checkpoint (tinct train refuses --resume without one)
resume_flag() { local out; out=$(sed -n 's/^out = "\(.*\)"/\1/p' "$1"); if [ -f "$out/checkpoint.safetensors" ]; then echo --resume; fi; }
tinct train --config configs/lite.toml $(resume_flag configs/lite.toml) "$@"
[ -d runs/lite-ft ] || cp -r runs/lite runs/lite-ft
tinct train --config configs/lite-finetune.toml $(resume_flag configs/lite-finetune.toml) "$@"
[ -d runs/lite-mid ] || cp -r runs/lite-ft runs/lite-mid
tinct train --config configs/lite-mid.toml $(resume_flag configs/lite-mid.toml) "$@"
tinct train --config configs/lite-whole.toml $(resume_flag configs/lite-whole.toml) "$@"
