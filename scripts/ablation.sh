#!/usr/bin/env bash
# The architecture ablation of docs/MODELS.md: each configs/ablation/*.toml (about 5 min of bf16
# training on 2 CPU cores each, steps set for equal wall time), then every result scored by
# `tinct eval` on the held-out training images runs/splits/dev/ at working size 128 (never val).
#   python scripts/make_dev_split.py && bash scripts/ablation.sh [names...]
set -euo pipefail
cd "$(dirname "$0")/.."
# --resume where the config's run folder holds a checkpoint (tinct train refuses --resume without one)
resume_flag() { local out; out=$(sed -n 's/^out = "\(.*\)"/\1/p' "$1"); if [ -f "$out/checkpoint.safetensors" ]; then echo --resume; fi; }
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(lite prism-noglobal prism prism-attn prism-w48 prism-s2)
for n in "${names[@]}"; do
  start=$(date +%s)
  tinct train --config "configs/ablation/$n.toml" $(resume_flag "configs/ablation/$n.toml") -q
  echo "$n train_wall_s $(( $(date +%s) - start ))" >> runs/ablation/walltimes.txt
done
models=$(printf 'runs/ablation/%s/model.safetensors,' "${names[@]}")
tinct eval runs/splits/dev --models "${models%,}" --size 128 --out runs/ablation/eval
