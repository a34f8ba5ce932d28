#!/usr/bin/env bash
# The CUDA paths, checked in one short run (under 8 minutes on one GPU; not part of CI):
#   1. training: a few hundred steps with AMP + channels-last on the GPU, images/s beside a
#      short run of the same recipe on the CPU;
#   2. a learned codec on Kodak: encoded and decoded on the GPU, the same files decoded on the
#      CPU (a bitstream must decode the same across devices, or fail with a clear error);
#   3. the metric engine on CUDA against its CPU values, images/s of each.
#
#   bash bench/gpu_check.sh ../shared/data/bsds500 ../shared/data/kodak ../shared/weights
# (PYTHON: the interpreter with evalkit installed, default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?training folder (BSDS500)}; KODAK=${2:?Kodak folder}; WEIGHTS=${3:-}
PY=${PYTHON:-.venv/bin/python}
EK="$(dirname "$PY")/evalkit"
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" ||
  { echo "gpu_check: torch sees no CUDA device here; nothing to check"; exit 1; }
$PY -c "import torch; print('device:', torch.cuda.get_device_name(0), '· torch', torch.__version__)"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT

echo "== 1. training: AMP + channels-last on CUDA, beside the CPU"
sed -e 's/^steps = .*/steps = 400/' -e 's/^validate_every = .*/validate_every = 400/' \
    -e '/^init = /d' codecs/ek-variable-rate-mse.toml > "$WORK/recipe.toml"
$EK train --recipe "$WORK/recipe.toml" --data "$DATA" --out "$WORK/gpu" --zoo "$WORK" \
    --device cuda --quiet ${WEIGHTS:+--weights-dir "$WEIGHTS"}
$EK train --recipe "$WORK/recipe.toml" --data "$DATA" --out "$WORK/cpu" --zoo "$WORK" \
    --device cpu --steps 30 --quiet ${WEIGHTS:+--weights-dir "$WEIGHTS"} || true
$PY - "$WORK" <<'EOF'
import sys, pandas as pd
work = sys.argv[1]
for device in ("gpu", "cpu"):
    log = pd.read_csv(f"{work}/{device}/train.csv")
    rate = log["images_per_s"].iloc[10:].median()   # warm-up steps not counted
    print(f"  {device}: {len(log)} steps, {rate:.1f} images/s, final loss {log['loss'].iloc[-20:].mean():.3f}")
print(pd.read_csv(f"{work}/gpu/validation.csv").to_string(index=False))
EOF

echo "== 2. ek-variable-rate-mse on Kodak: GPU encode/decode, the same files decoded on the CPU"
$EK compress --images kodak --kodak-dir "$KODAK" --codecs ek-variable-rate-mse --bpp 0.5 \
    --device cuda --workers 1 --out "$WORK/kodak" --quiet
$PY - "$WORK/kodak" <<'EOF'
import sys, time, numpy as np, pandas as pd
from evalkit.codecs import CodecError, get_codec
from evalkit.images import load_image
run = sys.argv[1]
manifest = pd.read_csv(f"{run}/manifest.csv")
cpu = get_codec("ek-variable-rate-mse", device="cpu")
worst, failed, start = 0.0, [], time.perf_counter()
for row in manifest.itertuples():
    gpu_pixels = load_image(f"{run}/{row.reconstruction}")
    try:
        cpu_pixels = cpu.decode(open(f"{run}/{row.bitstream}", "rb").read())
    except CodecError as exc:          # a clear error is acceptable; garbage is not
        failed.append(f"{row.image}: {exc}")
        continue
    worst = max(worst, float(np.abs(gpu_pixels.astype(int) - cpu_pixels.astype(int)).max()))
print(f"  {len(manifest)} files decoded on the CPU in {time.perf_counter() - start:.1f} s; "
      f"largest pixel difference from the GPU decode: {worst:g}; refused: {len(failed)}")
for line in failed[:3]:
    print("   ", line)
print(f"  GPU encode+decode per image: {manifest['encode_s'].median():.3f} s encode, "
      f"{manifest['decode_s'].median():.3f} s decode (median)")
EOF

echo "== 3. metric engine: CUDA against the CPU"
for device in cuda cpu; do
  TIMEFORMAT="  $device: %R s for the 24 images"
  time $EK metrics --manifest "$WORK/kodak/manifest.csv" --metrics psnr,ms-ssim${WEIGHTS:+,lpips} \
      --device $device --no-cache --out "$WORK/metrics-$device.csv" --quiet \
      ${WEIGHTS:+--weights-dir "$WEIGHTS"} >/dev/null
done
$PY - "$WORK" <<'EOF'
import sys, pandas as pd
work = sys.argv[1]
gpu, cpu = (pd.read_csv(f"{work}/metrics-{d}.csv") for d in ("cuda", "cpu"))
for column in [c for c in ("psnr", "ms_ssim", "lpips") if c in gpu]:
    rel = ((gpu[column] - cpu[column]).abs() / cpu[column].abs()).max()
    print(f"  {column}: largest relative difference CUDA vs CPU {rel:.2e}")
EOF
