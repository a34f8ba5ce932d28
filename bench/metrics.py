"""Metric-engine benchmark on Kodak × 4 JPEG reconstructions per image (0.25 … 1.0 bpp).

Pairs per second for PSNR + MS-SSIM + LPIPS next to the anchor measured in the same run: a plain
per-pair loop that reads both PNGs and calls the ``lpips`` package and ``pytorch_msssim``. The two
take turns, one reference image (its four reconstructions) at a time, so a change in the
machine's load during the run falls on both alike. Aim on a 2-core CPU: ≥ 3× the anchor. FID on one (codec, bpp) group against
pytorch-fid's own ``calculate_fid_given_paths`` (what ``python -m pytorch_fid DIR1 DIR2`` runs) on
the same images: target no slower cold, ≥ 10× warm.

    .venv/bin/python bench/metrics.py --kodak-dir ../shared/data/kodak --weights-dir ../shared/weights
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from evalkit.compress import compress
from evalkit.datasets import resolve_images
from evalkit.metrics import MetricEngine, read_pairs
from evalkit.metrics.fid import CONVERTED_NAME

TARGETS = [0.25, 0.5, 0.75, 1.0]


def anchor(weights: Path):
    """The per-pair loop: ``score(pairs)`` → (seconds, values (n, 3))."""
    import lpips
    from pytorch_msssim import ms_ssim
    from skimage.metrics import peak_signal_noise_ratio

    model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    model.load_state_dict(torch.load(weights / "lpips-alex-v0.1.pth"))
    model.eval()

    def score(pairs: list[tuple[Path, Path]]) -> tuple[float, list]:
        values = []
        start = time.perf_counter()
        for ref_path, rec_path in pairs:
            ref, rec = (np.array(Image.open(p).convert("RGB")) for p in (ref_path, rec_path))
            x, y = (torch.from_numpy(a).permute(2, 0, 1)[None].float() for a in (ref, rec))
            with torch.no_grad():
                d = model(x / 127.5 - 1, y / 127.5 - 1).item()
                s = ms_ssim(x, y, data_range=255).item()
            values.append((peak_signal_noise_ratio(ref, rec, data_range=255), s, d))
        return time.perf_counter() - start, values

    return score


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak-dir", default=os.environ.get("EVALKIT_KODAK_DIR"))
    parser.add_argument("--weights-dir", type=Path, default=os.environ.get("EVALKIT_WEIGHTS_DIR"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="evalkit-bench-"))
    run = tmp / "run"
    compress(resolve_images("kodak", args.kodak_dir), ["jpeg"], TARGETS, run, progress=False)
    table = read_pairs(run / "manifest.csv")
    pairs = [(run / a, run / b) for a, b in zip(table["reference"], table["reconstruction"])]
    print(
        f"{len(pairs)} pairs ({table['image'].nunique()} Kodak images × {len(TARGETS)} JPEG rates), "
        f"torch threads: {torch.get_num_threads()}"
    )

    metrics = ["psnr", "ms-ssim", "lpips"]
    engine = MetricEngine(metrics, weights_dir=args.weights_dir, device="cpu", cache=False)
    engine.pair_metric("lpips")  # load the networks outside the timing
    score_anchor = anchor(args.weights_dir)
    anchor_s = ours_s = 0.0
    anchor_values, parts = [], []
    for turn, (_, group) in enumerate(table.groupby("reference", sort=False)):
        group_pairs = [(run / a, run / b) for a, b in zip(group["reference"], group["reconstruction"])]
        for side in (0, 1) if turn % 2 == 0 else (1, 0):  # alternate who goes first
            if side == 0:
                seconds, values = score_anchor(group_pairs)
                anchor_s += seconds
                anchor_values.extend(values)
            else:
                start = time.perf_counter()
                parts.append(engine.evaluate(group, root=run, progress=False).pairs)
                ours_s += time.perf_counter() - start
    anchor_values = np.array(anchor_values)
    ours = pd.concat(parts)
    os.environ["EVALKIT_CACHE_DIR"] = str(tmp / "cache")
    cached = MetricEngine(metrics, weights_dir=args.weights_dir, device="cpu")
    cached.evaluate(table, root=run, progress=False)
    start = time.perf_counter()
    cached.evaluate(table, root=run, progress=False)
    warm_s = time.perf_counter() - start
    diff = np.abs(ours[["psnr", "ms_ssim", "lpips"]].to_numpy() / anchor_values - 1).max(axis=0)
    print("\nPSNR + MS-SSIM + LPIPS (alex), CPU")
    print(f"  anchor (per-pair loop):  {len(pairs) / anchor_s:7.2f} pairs/s")
    print(
        f"  evalkit, cold:           {len(pairs) / ours_s:7.2f} pairs/s  → {anchor_s / ours_s:.2f}× (aim ≥ 3×)"
    )
    print(f"  evalkit, warm cache:     {len(pairs) / warm_s:7.2f} pairs/s  → {anchor_s / warm_s:.0f}×")
    print(
        f"  largest relative difference from the anchor: psnr {diff[0]:.1e}, "
        f"ms-ssim {diff[1]:.1e}, lpips {diff[2]:.1e}"
    )

    group = table[table["target_bpp"] == 0.5].reset_index(drop=True)
    refs, recs = tmp / "refs", tmp / "recs"
    refs.mkdir()
    recs.mkdir()
    for a, b in zip(group["reference"], group["reconstruction"]):
        (refs / Path(a).name).symlink_to(run / a)
        (recs / Path(a).name).symlink_to(run / b)
    # Both in this process, each loading its network inside the timing. Kodak mixes landscape
    # and portrait images, so pytorch-fid can only batch one image at a time.
    from pytorch_fid import fid_score

    hub = tmp / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth").symlink_to(
        (args.weights_dir / CONVERTED_NAME).resolve()
    )
    torch.hub.set_dir(str(hub))
    start = time.perf_counter()
    theirs_fid = fid_score.calculate_fid_given_paths([str(refs), str(recs)], 1, "cpu", 2048)
    ref_s = time.perf_counter() - start
    os.environ["EVALKIT_CACHE_DIR"] = str(tmp / "fid-cache")
    timings = []
    for _ in ("cold", "warm"):
        start = time.perf_counter()
        sets = (
            MetricEngine(["fid"], weights_dir=args.weights_dir, device="cpu", patch_size=None)
            .evaluate(group, root=run, progress=False)
            .sets
        )
        timings.append(time.perf_counter() - start)
    ours_fid = sets["fid"].item()
    print(f"\nFID, {len(group)} references vs {len(group)} JPEG reconstructions at 0.5 bpp (whole images)")
    print(f"  pytorch_fid (calculate_fid_given_paths): {ref_s:6.2f} s   FID {theirs_fid:.4f}")
    print(
        f"  evalkit, cold:        {timings[0]:6.2f} s   FID {ours_fid:.4f}  → {ref_s / timings[0]:.2f}× (target ≥ 1×)"
    )
    print(f"  evalkit, warm cache:  {timings[1]:6.2f} s   → {ref_s / timings[1]:.0f}× (target ≥ 10×)")


if __name__ == "__main__":
    main()
