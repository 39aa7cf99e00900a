#!/usr/bin/env bash
# Reproduce the shipped `prism` weights from scratch: one stage per session of a 2-core CPU (bf16 where
# the CPU has AVX-512 BF16 / AMX), each resumable, each starting from the previous stage's fp16 weights
# with a fresh optimizer and its own warm-up + cosine schedule. configs/prism/STAGES.md lists every
# stage's steps, wall time and machine.
#   python scripts/make_dev_split.py        # the held-out dev images the configs read (once)
#   bash scripts/train_prism.sh             # every stage not finished yet, in order
# To continue from the shipped weights instead of replaying (a fresh checkout has no runs/):
#   mkdir -p runs/prism-sN && cp tinct/weights/prism.safetensors runs/prism-sN/model.safetensors
# where N is the last stage in configs/prism/STAGES.md; the script then starts at stage N + 1.
# Add `--device cuda` on a GPU. Then ship with scripts/release_model.py runs/prism-sN --name prism.
set -euo pipefail
cd "$(dirname "$0")/.."
# --resume where the config's run folder holds a checkpoint (tinct train refuses --resume without one)
resume_flag() { local out; out=$(sed -n 's/^out = "\(.*\)"/\1/p' "$1"); if [ -f "$out/checkpoint.safetensors" ]; then echo --resume; fi; }
[ -f runs/splits/train.txt ] || python scripts/make_dev_split.py
for cfg in configs/prism/stage*.toml; do
  out=$(sed -n 's/^out = "\(.*\)"/\1/p' "$cfg")
  if [ -f "$out/model.safetensors" ] && [ ! -f "$out/checkpoint.safetensors" ]; then
    continue  # a finished stage shipped in from elsewhere (no checkpoint to resume)
  fi
  tinct train --config "$cfg" $(resume_flag "$cfg") "$@"
done
