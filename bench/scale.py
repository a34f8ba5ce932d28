"""Scaling benchmark: compress units per second on this machine's process pool and on a Dask
cluster (a real ``distributed.LocalCluster`` of 1 and 2 worker processes), side by side, with
the scheduling overhead per unit against the anchor measured in the same run — the time of one
JPEG unit (an (image, codec) job with its targets) run directly in this process, which is also
the local executor's 1-worker case. Target: the
Dask overhead per unit under 5 % of a JPEG unit at the default batch. Each configuration starts
from an empty encode cache, so every unit really encodes. Then the metric engine's pairs per
second against the naive per-pair loop (``bench/metrics.py``'s anchor, same run, taking turns
per reference), and a profile of the engine saying where its time goes.

    .venv/bin/python bench/scale.py --kodak-dir ../shared/data/kodak --weights-dir ../shared/weights
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
from pathlib import Path

from evalkit.compress import compress
from evalkit.datasets import resolve_images
from evalkit.executors import DEFAULT_BATCH, DaskExecutor, LocalExecutor
from evalkit.metrics import MetricEngine, read_pairs

from metrics import anchor   # bench/metrics.py: the per-pair loop

TARGETS = [0.25, 0.5, 1.0]


def units_per_second(images, tmp: Path, name: str, executor) -> float:
    os.environ["EVALKIT_CACHE_DIR"] = str(tmp / f"cache-{name}")
    start = time.perf_counter()
    result = compress(images, ["jpeg"], TARGETS, tmp / f"run-{name}", progress=False, executor=executor)
    seconds = time.perf_counter() - start
    assert not result.errors and result.fresh_encodes > 0, result.errors
    return len(images) / seconds


def dask_executor(tmp: Path, name: str, workers: int, batch: int):
    """A LocalCluster whose workers start with an empty cache of their own."""
    from distributed import Client, LocalCluster
    os.environ["EVALKIT_CACHE_DIR"] = str(tmp / f"cache-{name}")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    client.run(lambda: __import__("evalkit.compress"))    # imports outside the timing
    return cluster, client, DaskExecutor(client=client, batch=batch)


def compress_scaling(images, tmp: Path, batch: int) -> None:
    rates = {}
    # the local executor with one worker runs in this process: the anchor, and its 1-worker row
    rates["in this process (anchor)"] = units_per_second(images, tmp, "direct", LocalExecutor(1))
    rates["local pool, 2 processes"] = units_per_second(images, tmp, "pool2", LocalExecutor(2))
    for workers in (1, 2):
        cluster, client, executor = dask_executor(tmp, f"dask{workers}", workers, batch)
        try:
            rates[f"Dask, {workers} worker{'s' if workers > 1 else ''}, batch {batch}"] = (
                units_per_second(images, tmp, f"dask{workers}", executor))
        finally:
            client.close()
            cluster.close()
    unit_s = 1 / rates["in this process (anchor)"]
    print(f"\ncompress: {len(images)} Kodak images × jpeg × {len(TARGETS)} targets = {len(images)} "
          f"units; one JPEG unit in this process: {unit_s * 1000:.0f} ms")
    print(f"  {'executor':<34} {'units/s':>8} {'overhead/unit':>14} {'% of a unit':>12}")
    for name, rate in rates.items():
        if name.startswith("in this process"):
            print(f"  {name:<34} {rate:8.2f}")
            continue
        workers = 2 if ("2 workers" in name or "2 processes" in name) else 1
        overhead = workers / rate - unit_s        # per unit, per worker: wall − the work itself
        print(f"  {name:<34} {rate:8.2f} {overhead * 1000:11.1f} ms {100 * overhead / unit_s:11.1f} %"
              + ("   (target < 5 %)" if name.startswith("Dask, 1") else ""))
    print("  (overhead at 2 workers also holds the two workers' contention for this machine's 2 cores)")


def engine_against_loop(kodak_dir, weights: Path, tmp: Path, n_images: int) -> None:
    run = tmp / "run-metrics"
    os.environ["EVALKIT_CACHE_DIR"] = str(tmp / "cache-metrics")
    images = resolve_images("kodak", kodak_dir)[:n_images]
    compress(images, ["jpeg"], [0.25, 0.5, 0.75, 1.0], run, progress=False)
    table = read_pairs(run / "manifest.csv")
    engine = MetricEngine(["psnr", "ms-ssim", "lpips"], weights_dir=weights, device="cpu", cache=False)
    engine.pair_metric("lpips")
    loop = anchor(weights)
    loop_s = ours_s = 0.0
    profile = cProfile.Profile()
    for turn, (_, group) in enumerate(table.groupby("reference", sort=False)):
        pairs = [(run / a, run / b) for a, b in zip(group["reference"], group["reconstruction"])]
        for side in ((0, 1) if turn % 2 == 0 else (1, 0)):
            if side == 0:
                loop_s += loop(pairs)[0]
            else:
                start = time.perf_counter()
                profile.enable()
                engine.evaluate(group, root=run, progress=False)
                profile.disable()
                ours_s += time.perf_counter() - start
    n = len(table)
    print(f"\nmetric engine, PSNR + MS-SSIM + LPIPS, CPU, {n} pairs ({n_images} Kodak images × 4 JPEG rates)")
    print(f"  naive per-pair loop (anchor): {n / loop_s:6.2f} pairs/s")
    print(f"  evalkit engine:               {n / ours_s:6.2f} pairs/s  → {loop_s / ours_s:.2f}× (aim ≥ 3×)")
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(8)
    lines = [l for l in text.getvalue().splitlines() if l.strip()]
    start = next(i for i, l in enumerate(lines) if l.lstrip().startswith("ncalls"))
    print("  where the engine's time goes (cProfile, self time):")
    for line in lines[start:start + 9]:
        print("   ", line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak-dir", default=os.environ.get("EVALKIT_KODAK_DIR"))
    parser.add_argument("--weights-dir", type=Path, default=os.environ.get("EVALKIT_WEIGHTS_DIR"))
    parser.add_argument("--images", type=int, default=24, help="Kodak images for compress (default 24)")
    parser.add_argument("--metric-images", type=int, default=6, help="Kodak images for the engine (default 6)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="units per Dask task")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="evalkit-scale-"))
    images = resolve_images("kodak", args.kodak_dir)[:args.images]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    compress_scaling(images, tmp, args.batch)
    engine_against_loop(args.kodak_dir, args.weights_dir, tmp, args.metric_images)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
