#!/usr/bin/env bash
# Reproduce `prism`'s weights: one stage per session of a 2-core CPU (`--precision auto`: bf16 where
# the CPU has AMX or measures faster in it), each stage starting from the previous stage's fp16
# weights with a fresh optimizer and its own warm-up + cosine schedule. Each finished stage's weights are committed beside its config
# (configs/prism/stageN.safetensors), so a fresh checkout continues where the chain stands; the
# next config's `init` names them. configs/prism/STAGES.md lists every stage's steps, wall time,
# machine and scores.
# Branches, measured and lost (configs/prism/depth2/, configs/prism/degrade75/, configs/prism/size160/,
# configs/prism/lowlr/, configs/prism/scene03/, configs/prism/scene10/, configs/prism/power1/,
# configs/prism/power025/, configs/prism/cutmix/), are not part of the chain.
#   bash scripts/train_prism.sh              # every stage whose weights are not committed yet, in order
#   bash scripts/train_prism.sh --scratch    # replay the whole chain from scratch (runs/, then copies)
# Each stage is resumable (Ctrl-C, then run the script again). Add `--device cuda` on a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=0
if [ "${1:-}" = "--scratch" ]; then scratch=1; shift; fi
# --resume where the config's run folder holds a checkpoint (tinct train refuses --resume without one)
resume_flag() { local out; out=$(sed -n 's/^out = "\(.*\)"/\1/p' "$1"); if [ -f "$out/checkpoint.safetensors" ]; then echo --resume; fi; }
[ -f runs/splits/train.txt ] || python scripts/make_dev_split.py
for cfg in $(ls configs/prism/stage*.toml | sort -V); do  # stage2 before stage10
  weights="${cfg%.toml}.safetensors"
  if [ -f "$weights" ] && [ "$scratch" = 0 ]; then
    continue  # finished and committed
  fi
  out=$(sed -n 's/^out = "\(.*\)"/\1/p' "$cfg")
  tinct train --config "$cfg" $(resume_flag "$cfg") "$@"
  cp "$out/model.safetensors" "$weights"
done
