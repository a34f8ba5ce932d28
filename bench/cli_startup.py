"""What a user waits for at the command line, process start included, beside an anchor measured
in the same run.

1. ``evalkit --help`` against ``python -c pass`` (the interpreter alone): the median of
   ``--repeats`` runs each, alternating; target: under 0.5 s added.
2. ``evalkit metrics`` (PSNR + MS-SSIM + LPIPS, CPU, no cache) on Kodak × 4 JPEG rates against
   the naive per-pair loop of ``bench/metrics.py`` (reads both PNGs, calls ``lpips`` and
   ``pytorch_msssim`` per pair) run as a script: both whole processes, imports and network
   loading included; target ≥ 3×.

    .venv/bin/python bench/cli_startup.py --kodak-dir ../shared/data/kodak --weights-dir ../shared/weights
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TARGETS = [0.25, 0.5, 0.75, 1.0]

#: The anchor of part 2 as a process: bench/metrics.py's per-pair loop on a manifest's pairs.
ANCHOR = """
import sys
from pathlib import Path
import pandas as pd
sys.path.insert(0, {bench!r})
from metrics import anchor
run = Path({run!r})
table = pd.read_csv(run / "manifest.csv")
anchor(Path({weights!r}))([(run / a, run / b) for a, b in zip(table["reference"], table["reconstruction"])])
"""


def timed(command: list[str], env: dict | None = None) -> float:
    return timed_cpu(command, env)[0]


def timed_cpu(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds of the process, and its CPU seconds (user + system, all its threads): the
    CPU time is the less sensitive to other work on the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak-dir", default=os.environ.get("EVALKIT_KODAK_DIR"))
    parser.add_argument("--weights-dir", type=Path, default=os.environ.get("EVALKIT_WEIGHTS_DIR"))
    parser.add_argument(
        "--images", type=int, default=24, help="Kodak images for part 2 (default: all 24; 0: part 1 only)"
    )
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    evalkit = [sys.executable, "-m", "evalkit.cli"]

    python, cli = [], []
    for _ in range(args.repeats):
        python.append(timed([sys.executable, "-c", "pass"]))
        cli.append(timed([*evalkit, "--help"]))
    base, ours = statistics.median(python), statistics.median(cli)
    print(f"1. evalkit --help, median of {args.repeats} (process start included)")
    print(f"  anchor: python -c pass   {base:6.3f} s")
    print(f"  evalkit --help           {ours:6.3f} s  → {ours - base:+.3f} s added (target < 0.5 s)")
    if not args.images:
        return

    from evalkit.compress import compress
    from evalkit.datasets import resolve_images

    tmp = Path(tempfile.mkdtemp(prefix="evalkit-startup-"))
    run = tmp / "run"
    images = resolve_images("kodak", args.kodak_dir)[: args.images]
    compress(images, ["jpeg"], TARGETS, run, progress=False)
    pairs = len(images) * len(TARGETS)
    env = {**os.environ, "EVALKIT_CACHE_DIR": str(tmp / "cache")}
    load_before = load()
    anchor_s, anchor_cpu = timed_cpu(
        [sys.executable, "-c", ANCHOR.format(bench=str(BENCH), run=str(run), weights=str(args.weights_dir))]
    )
    ours_s, ours_cpu = timed_cpu(
        [
            *evalkit,
            "metrics",
            "--manifest",
            str(run / "manifest.csv"),
            "--metrics",
            "psnr,ms-ssim,lpips",
            "--device",
            "cpu",
            "--no-cache",
            "--quiet",
            "--weights-dir",
            str(args.weights_dir),
        ],
        env,
    )
    print(
        f"\n2. PSNR + MS-SSIM + LPIPS on {pairs} pairs ({len(images)} Kodak × {len(TARGETS)} JPEG "
        "rates), CPU, whole processes"
    )
    print(f"  anchor: per-pair loop    {anchor_s:7.2f} s  ({anchor_cpu:6.2f} CPU-s)")
    print(
        f"  evalkit metrics          {ours_s:7.2f} s  ({ours_cpu:6.2f} CPU-s)  → {anchor_s / ours_s:.2f}× "
        f"(target ≥ 3×; CPU-s {anchor_cpu / ours_cpu:.2f}×)"
    )
    print(f"  {load_before} before, {load()} after")


if __name__ == "__main__":
    main()
