"""Scaling benchmark: compress units per second on this machine (in this process, and a pool of
2 processes) and on a Dask cluster (a real ``distributed.LocalCluster`` of 1 and 2 worker
processes), side by side, with the scheduling overhead per unit beside the anchor measured in
the same run: the time of a JPEG unit (an (image, codec) job with its targets). Each run adds up
the time its units took where they ran, so the overhead — wall time × workers minus the units'
own time, per unit — is measured within the run, whatever the shared machine's load does
between runs. Target: the Dask overhead under 5 % of a JPEG unit at the default batch. Each run
starts from an empty encode cache, so every unit really encodes.

Then the metric engine's pairs per second against the naive per-pair loop (``bench/metrics.py``'s
anchor, in the same run, taking turns per reference), and a profile of the engine saying where
its time goes.

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
from functools import partial
from pathlib import Path

from metrics import anchor  # bench/metrics.py: the per-pair loop

from evalkit.compress import compress
from evalkit.datasets import resolve_images
from evalkit.executors import DEFAULT_BATCH, DaskExecutor, LocalExecutor
from evalkit.metrics import MetricEngine, read_pairs

TARGETS = [0.25, 0.5, 1.0]


def use_cache(path: str) -> None:
    os.environ["EVALKIT_CACHE_DIR"] = path


def _timed(fn, unit):
    start = time.perf_counter()
    out = fn(unit)
    return out, time.perf_counter() - start


class Timed:
    """An executor that also adds up how long the units themselves took, where they ran: the
    rest of the wall time of one worker is what scheduling and transfers cost."""

    def __init__(self, inner):
        self.inner, self.unit_s, self.started = inner, 0.0, None

    def run(self, fn, units):
        self.started = time.perf_counter()  # the client has read and written the references
        for i, outcome in self.inner.run(partial(_timed, fn), units):
            if isinstance(outcome, tuple):
                outcome, seconds = outcome
                self.unit_s += seconds
            yield i, outcome


def measure(images, tmp: Path, name: str, executor, client=None) -> tuple[float, float, float]:
    """One compress run from an empty encode cache (the workers' too): wall seconds of the
    units' phase (after the references are written), the seconds the units took, and the wall
    seconds of the whole run."""
    cache = str(tmp / f"cache-{name}")
    use_cache(cache)
    if client is not None:
        client.run(use_cache, cache)
    timed = Timed(executor)
    start = time.perf_counter()
    result = compress(images, ["jpeg"], TARGETS, tmp / f"run-{name}", progress=False, executor=timed)
    end = time.perf_counter()
    assert not result.errors and result.fresh_encodes > 0, result.errors
    return end - timed.started, timed.unit_s, end - start


def compress_scaling(images, tmp: Path, batch: int, rounds: int) -> None:
    """Each configuration ``rounds`` times, taking turns, the fastest run of each kept (the
    machine is shared). The clusters are started and warmed up (imports, first task) outside
    the timing; the local pool starts its processes inside it, as every ``evalkit compress``
    does. Overhead per unit = (wall × workers − the units' own time) / units."""
    from distributed import Client, LocalCluster
    from PIL import Image

    warm = tmp / "warm"
    warm.mkdir()
    Image.fromarray(images[0].load()[:64, :64]).save(warm / "crop.png")
    configs = {
        "in this process (anchor)": (LocalExecutor(1), None, 1),
        "local pool, 2 processes": (LocalExecutor(2), None, 2),
    }
    clusters = []
    for workers in (1, 2):
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        clusters.append((cluster, client))
        executor = DaskExecutor(client=client, batch=batch)
        measure(resolve_images(str(warm)), tmp, f"warm-dask{workers}", executor, client)
        configs[f"Dask, {workers} worker{'s' if workers > 1 else ''}, batch {batch}"] = (
            executor,
            client,
            workers,
        )
    best = {}
    try:
        for r in range(rounds):
            for n, (name, (executor, client, _)) in enumerate(configs.items()):
                run = measure(images, tmp, f"{r}-{n}", executor, client)
                best[name] = min(best.get(name, run), run)
    finally:
        for cluster, client in clusters:
            client.close()
            cluster.close()
    units = len(images)
    anchor_unit = best["in this process (anchor)"][1] / units
    print(
        f"\ncompress: {units} Kodak images × jpeg × {len(TARGETS)} targets = {units} units "
        f"(fastest of {rounds} runs each); a JPEG unit in this process: {anchor_unit * 1000:.0f} ms"
    )
    print(f"  {'executor':<30} {'units/s':>8} {'unit there':>11} {'overhead/unit':>14} {'of a unit':>10}")
    for name, (phase, unit_s, wall) in best.items():
        workers = configs[name][2]
        overhead = (phase * workers - unit_s) / units
        mean_unit = unit_s / units
        print(
            f"  {name:<30} {units / wall:8.2f} {mean_unit * 1000:8.0f} ms {overhead * 1000:11.1f} ms "
            f"{100 * overhead / mean_unit:9.1f} %" + ("   (target < 5 %)" if name.startswith("Dask") else "")
        )
    prep = [wall - phase for phase, _, wall in best.values()]
    print(
        f"  units/s over the whole run; overhead/unit over the units' phase: its wall time × workers\n"
        f"  − the units' own time (in this process: writing the manifest after each unit; for the\n"
        f"  local pool also starting its processes). Before it, the client reads and writes the\n"
        f"  references: {min(prep) / units * 1000:.0f}–{max(prep) / units * 1000:.0f} ms per image in these runs."
    )


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
        for side in (0, 1) if turn % 2 == 0 else (1, 0):
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
    for line in lines[start : start + 9]:
        print("   ", line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak-dir", default=os.environ.get("EVALKIT_KODAK_DIR"))
    parser.add_argument("--weights-dir", type=Path, default=os.environ.get("EVALKIT_WEIGHTS_DIR"))
    parser.add_argument("--images", type=int, default=24, help="Kodak images for compress (default 24)")
    parser.add_argument(
        "--metric-images", type=int, default=6, help="Kodak images for the engine (default 6)"
    )
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="units per Dask task")
    parser.add_argument("--rounds", type=int, default=2, help="turns of each configuration (default 2)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="evalkit-scale-"))
    images = resolve_images("kodak", args.kodak_dir)[: args.images]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    compress_scaling(images, tmp, args.batch, args.rounds)
    engine_against_loop(args.kodak_dir, args.weights_dir, tmp, args.metric_images)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
