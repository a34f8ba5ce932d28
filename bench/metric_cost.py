"""What each metric costs per Kodak image (768 × 512), beside anchors measured in the same run.

For each image, one JPEG reconstruction (Pillow, quality 50); each metric's torch form scores it
against its reference (prepare + score, one pair at a time, as the engine does on a CPU). CPU
seconds include the ffmpeg processes VMAF and XPSNR start. Anchors, on the same pairs: the
metrics shown by default (PSNR, MS-SSIM, LPIPS: what the demo measures per pair), ffmpeg's own
route for VMAF (reading the two PNG files, its scaler converting them to YUV), and the
``ssimulacra2`` package's ``compute_ssimulacra2`` on the files. The metrics take turns image by
image, so a change in the machine's load falls on all alike.

    .venv/bin/python bench/metric_cost.py --kodak-dir ../shared/data/kodak --weights-dir ../shared/weights
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from evalkit.images import load_image, save_png
from evalkit.metrics import pair_metric, to_tensor
from evalkit.metrics.ffmpeg_filter import ffmpeg_with

OURS = ["vmaf", "vmaf-neg", "xpsnr", "ssimulacra2"]
SHOWN = ["psnr", "ms-ssim", "lpips"]


def cpu_seconds() -> float:
    """This process's CPU time and that of the children it waited for (ffmpeg)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn) -> tuple[float, float]:
    cpu, wall = cpu_seconds(), time.perf_counter()
    fn()
    return cpu_seconds() - cpu, time.perf_counter() - wall


def ffmpeg_vmaf_on_files(folder: Path) -> None:
    subprocess.run(
        [
            ffmpeg_with("libvmaf"),
            "-loglevel",
            "error",
            "-i",
            str(folder / "rec.png"),
            "-i",
            str(folder / "ref.png"),
            "-lavfi",
            "[0:v]format=yuv444p[a];[1:v]format=yuv444p[b];[a][b]libvmaf",
            "-f",
            "null",
            "-",
        ],
        check=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak-dir", type=Path, default=os.environ.get("EVALKIT_KODAK_DIR"))
    parser.add_argument("--weights-dir", type=Path, default=os.environ.get("EVALKIT_WEIGHTS_DIR"))
    parser.add_argument("--images", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from ssimulacra2 import compute_ssimulacra2

    metrics = {name: pair_metric(name, args.weights_dir) for name in SHOWN + OURS}
    cost: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for n in range(1, args.images + 1):
            ref = load_image(args.kodak_dir / f"kodim{n:02d}.png")
            buffer = io.BytesIO()
            Image.fromarray(ref).save(buffer, "JPEG", quality=50)
            rec = np.array(Image.open(buffer).convert("RGB"))
            save_png(ref, folder / "ref.png")
            save_png(rec, folder / "rec.png")
            for name, metric in metrics.items():
                with torch.inference_mode():
                    x, x_hat = (to_tensor(a, metric.dtype) for a in (ref, rec))
                    cost.setdefault(name, []).append(timed(lambda: metric.score(metric.prepare(x), x_hat)))  # noqa: B023
            cost.setdefault("anchor: ffmpeg libvmaf on the files", []).append(
                timed(lambda: ffmpeg_vmaf_on_files(folder))
            )
            cost.setdefault("anchor: ssimulacra2 package on the files", []).append(
                timed(lambda: compute_ssimulacra2(folder / "ref.png", folder / "rec.png"))
            )
    shown = sum(np.mean([c for c, _ in cost[m]]) for m in SHOWN)
    print(f"{args.images} Kodak images, one JPEG (q 50) each; per image, mean of the images")
    print(f"{'metric':42} {'CPU-s':>7} {'wall-s':>7} {'× shown':>8}")
    for name, values in cost.items():
        cpu, wall = np.mean(values, axis=0)
        print(f"{name:42} {cpu:7.3f} {wall:7.3f} {cpu / shown:8.2f}")
    print(f"{'anchor: psnr + ms-ssim + lpips (shown)':42} {shown:7.3f}")


if __name__ == "__main__":
    main()
