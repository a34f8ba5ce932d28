#!/usr/bin/env bash
# Issue 33's GPU run in one command, every figure and the model written to OUT:
#   1. throughput probe: a short run of codecs/ek-variable-rate-mse-gpu.toml on the device, its
#      images/s (probe/);
#   2. training: the recipe with train.steps set to MINUTES of steps at the probed rate and the
#      milestone at 85 % of them, under a hard time limit (MINUTES + 3 min; past it the run is
#      stopped, saved and exported as it stands) (run/, ek-variable-rate-mse-gpu.toml: the zoo
#      entry, run/ek-variable-rate-mse-gpu.pth: the model);
#   3. Kodak: JPEG, WebP, JPEG 2000, hevc-bpg and the shipped ek-variable-rate-mse in one folder,
#      the new model in another, PSNR and MS-SSIM, then bench/shipped_model.py (kodak.txt);
#   4. bench/gpu_check.sh (gpu_check.txt).
# Everything is logged to OUT/gpu_run.log.
#
#   bash bench/gpu_run.sh OUT ../shared/data/bsds500 ../shared/data/kodak [../shared/weights]
#
# PYTHON: the interpreter with evalkit installed (default .venv/bin/python); MINUTES: training
# time (default 8). TINY=1 checks the whole script on the CPU in a few minutes: probe and training
# of a few steps at 64² crops with N = M = 16, Kodak reduced to two 256² crops at two rates.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:?output folder}"); DATA=${2:?training folder (BSDS500)}
KODAK=${3:?Kodak folder}; WEIGHTS=${4:-}
PY=${PYTHON:-.venv/bin/python}; EK="$(dirname "$PY")/evalkit"
MINUTES=${MINUTES:-8}; TINY=${TINY:-0}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_run.log") 2>&1
NAME=ek-variable-rate-mse-gpu
TARGETS=0.25,0.375,0.5,0.75,1
if [ "$TINY" = 1 ]; then
  DEVICE=cpu; PROBE=6; WARMUP=2; TARGETS=0.5,1
  SHRINK='s/^N = .*/N = 16/; s/^M = .*/M = 16/; s/^patch = .*/patch = 64/; s/^batch = .*/batch = 4/'
else
  DEVICE=cuda; PROBE=60; WARMUP=20; SHRINK=''
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" ||
    { echo "gpu_run: torch sees no CUDA device here (TINY=1 checks the script on the CPU)"; exit 1; }
fi
"$PY" -c "import torch; print('device:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu', '· torch', torch.__version__)"
date -u +"start %F %T UTC"

echo "== 1. throughput probe: $PROBE steps of $NAME on $DEVICE"
mkdir -p "$OUT/probe"
sed -e "$SHRINK" -e "s/^steps = .*/steps = $PROBE/" -e "s/^validate_every = .*/validate_every = $PROBE/" \
    codecs/$NAME.toml > "$OUT/probe/$NAME.toml"
"$EK" train --recipe "$OUT/probe/$NAME.toml" --data "$DATA" --out "$OUT/probe/run" \
    --zoo "$OUT/probe" --device $DEVICE --quiet ${WEIGHTS:+--weights-dir "$WEIGHTS"}
read -r STEPS MILESTONE EVERY RATE < <("$PY" - "$OUT/probe" "$NAME" "$MINUTES" "$WARMUP" <<'EOF'
import sys
import pandas as pd
from evalkit.train.recipe import load_recipe
probe, name, minutes, warmup = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
recipe = load_recipe(f"{probe}/{name}.toml")
images_per_s = pd.read_csv(f"{probe}/run/train.csv")["images_per_s"].iloc[warmup:].median()
steps = max(4, int(minutes * 60 * images_per_s / recipe.batch))
print(steps, int(0.85 * steps), max(1, steps // 4), f"{images_per_s:.1f}")
EOF
)
echo "  $RATE images/s: $MINUTES minutes are $STEPS steps (lr × 0.1 from step $MILESTONE)"

echo "== 2. training $NAME: $STEPS steps, stopped at $((MINUTES + 3)) minutes at the latest"
sed -e "$SHRINK" -e "s/^steps = .*/steps = $STEPS/" -e "s/^milestones = .*/milestones = [$MILESTONE]/" \
    -e "s/^validate_every = .*/validate_every = $EVERY/" codecs/$NAME.toml > "$OUT/$NAME.toml"
START=$(date +%s)
RC=0
timeout --signal=TERM $(((MINUTES + 3) * 60)) "$EK" train --recipe "$OUT/$NAME.toml" --data "$DATA" \
    --out "$OUT/run" --zoo "$OUT" --device $DEVICE --quiet ${WEIGHTS:+--weights-dir "$WEIGHTS"} || RC=$?
if [ $RC = 124 ]; then
  echo "  time limit reached: exporting the run as it stands"
  "$PY" - "$OUT" "$NAME" "$DATA" <<'EOF'
import sys
from pathlib import Path
from evalkit.train.recipe import load_recipe
from evalkit.train.trainer import Trainer
out, name, data = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
trainer = Trainer(load_recipe(out / f"{name}.toml"), data, out / "run", device="cpu", progress=False)
trainer.resume()
print("  exported", trainer.export(out), "at step", trainer.step)
EOF
elif [ $RC != 0 ]; then
  exit $RC
fi
echo "  training took $(($(date +%s) - START)) s; model $(du -h "$OUT/run/$NAME.pth" | cut -f1)"
"$PY" - "$OUT/run" <<'EOF'
import sys, pandas as pd
run = sys.argv[1]
log = pd.read_csv(f"{run}/train.csv")
print(f"  {len(log)} steps, {log['images_per_s'].iloc[10:].median():.1f} images/s (median), "
      f"final loss {log['loss'].iloc[-50:].mean():.3f}")
print(pd.read_csv(f"{run}/validation.csv").round(4).to_string(index=False))
EOF

echo "== 3. Kodak: the classical codecs, the shipped model and $NAME, PSNR and MS-SSIM"
IMAGES=kodak
if [ "$TINY" = 1 ]; then   # two 256² crops stand in for Kodak
  IMAGES="$OUT/kodak-crops"; mkdir -p "$IMAGES"
  "$PY" -c "import sys; from PIL import Image; [Image.open(f'{sys.argv[1]}/kodim0{n}.png').crop((0, 0, 256, 256)).save(f'{sys.argv[2]}/kodim0{n}.png') for n in (1, 2)]" "$KODAK" "$IMAGES"
fi
"$EK" compress --images "$IMAGES" --kodak-dir "$KODAK" --codecs jpeg,webp,jpeg2000,hevc-bpg,ek-variable-rate-mse \
    --bpp $TARGETS --device $DEVICE --out "$OUT/kodak" --quiet
"$EK" compress --images "$IMAGES" --kodak-dir "$KODAK" --codecs "variable-rate@$OUT/run/$NAME.pth" \
    --bpp $TARGETS --device $DEVICE --out "$OUT/kodak-new" --quiet
for run in kodak kodak-new; do
  "$EK" metrics --manifest "$OUT/$run/manifest.csv" --metrics psnr,ms-ssim --device $DEVICE --quiet
done
"$PY" bench/shipped_model.py "$OUT/kodak" "$NAME=$OUT/kodak-new" | tee "$OUT/kodak.txt"

echo "== 4. bench/gpu_check.sh"
if [ "$TINY" = 1 ]; then
  PYTHON="$PY" bash bench/gpu_check.sh "$DATA" "$KODAK" $WEIGHTS 2>&1 | tee "$OUT/gpu_check.txt" || true
else
  PYTHON="$PY" bash bench/gpu_check.sh "$DATA" "$KODAK" $WEIGHTS 2>&1 | tee "$OUT/gpu_check.txt"
fi
date -u +"end %F %T UTC"
