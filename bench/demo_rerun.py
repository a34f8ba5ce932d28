"""Cached-rerun benchmark: the seconds ``evalkit demo`` prints when everything is cached, beside
an anchor measured in the same run: the same rerun after deleting the report's files folder, so
every figure and crop is drawn again (what each rerun did before drawn files were carried over).
Target: the cached rerun under 5 s on the 2-core development machine.

Runs the demo once first if ``--out`` holds no finished run (minutes); pass the same weights
folder each time (``$EVALKIT_WEIGHTS_DIR``) so that the metrics are cached too.

    EVALKIT_WEIGHTS_DIR=../shared/weights .venv/bin/python bench/demo_rerun.py [--out runs/demo] [--repeat 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

EVALKIT = [sys.executable, "-m", "evalkit.cli"]


def demo(out: Path) -> tuple[float, float]:
    """(seconds the demo prints, wall seconds of the whole command)."""
    start = time.perf_counter()
    done = subprocess.run([*EVALKIT, "demo", "--out", str(out), "--quiet"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    printed = re.search(r"report: .*\(([\d.]+) s;", done.stdout)
    if done.returncode != 0 or printed is None:
        sys.exit(f"evalkit demo failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return float(printed.group(1)), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out = Path(args.out)
    if not (out / "report.html").is_file():
        print("no finished demo run yet: running it once (minutes) …")
        demo(out)
    demo(out)  # whatever the first run left undone
    cached, anchor = [], []
    for _ in range(args.repeat):
        cached.append(demo(out))
        shutil.rmtree(out / "report_files")
        anchor.append(demo(out))
    for name, runs in (("cached rerun", cached), ("anchor: figures drawn again", anchor)):
        print(
            f"{name:30s} printed {statistics.median(r[0] for r in runs):5.1f} s, "
            f"wall {statistics.median(r[1] for r in runs):5.1f} s (median of {len(runs)})"
        )


if __name__ == "__main__":
    main()
