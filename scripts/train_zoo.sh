#!/usr/bin/env bash
# Train every model of the zoo (configs/zoo/*.toml) with the same budget, JOBS at a time
# (one CPU thread each, as each config says), after the FeatureNet that unet's perceptual
# loss needs. A model whose run already has model.safetensors is skipped; an interrupted
# run resumes from its checkpoint. Then ship each with scripts/release_model.py.
#
#   JOBS=2 scripts/train_zoo.sh [MODEL ...]      (default: every config in configs/zoo)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  for f in configs/zoo/*.toml; do models+=("$(basename "$f" .toml)"); done
fi
mkdir -p runs/zoo
if [[ " ${models[*]} " == *" unet "* ]] && [ ! -f runs/featurenet/featurenet.safetensors ]; then
  python scripts/train_feature_net.py --out runs/featurenet
fi
printf '%s\n' "${models[@]}" | xargs -P "$JOBS" -I{} bash -c '
  if [ -f runs/zoo/{}/model.safetensors ]; then echo "{}: done already"; exit 0; fi
  resume=$([ -f runs/zoo/{}/checkpoint.safetensors ] && echo --resume || true)
  tinct train --config configs/zoo/{}.toml $resume > runs/zoo/{}.out 2>&1 && echo "{}: trained" || echo "{}: FAILED (runs/zoo/{}.out)"
'
