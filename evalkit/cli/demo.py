"""``evalkit demo``: the whole chain on the bundled photos (:mod:`evalkit.demo`)."""

from __future__ import annotations

import argparse
import sys

from .options import available_codecs, bpp_targets, name_list


def add_parser(sub) -> argparse.ArgumentParser:
    d = sub.add_parser(
        "demo",
        help="the whole chain on the bundled photos: compress, measure, write the report",
        description="Compress the bundled sample photos with every available codec at 0.25, 0.5, "
        "0.75 and 1.0 bpp, compute PSNR, MS-SSIM, LPIPS and FID/KID (those whose "
        "weights are found), and write the HTML report. Offline, a few minutes on a CPU.",
    )
    d.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    d.add_argument(
        "--codecs",
        type=name_list,
        default=None,
        help="comma-separated codec names (default: every available one)",
    )
    d.add_argument(
        "--weights-dir", help="folder with LPIPS/Inception weights (default: $EVALKIT_WEIGHTS_DIR)"
    )
    d.add_argument("--device", help="cpu, cuda … (default: cuda when present)")
    d.add_argument("--workers", type=int, default=None, help="compression processes (default: all cores)")
    d.add_argument(
        "--bpp",
        type=bpp_targets,
        default=None,
        help="comma-separated target bpps (default: 0.25,0.5,0.75,1.0; BD-rate needs 4)",
    )
    d.add_argument(
        "--study",
        action="store_true",
        help="also build the example study (a copy under OUT/study), serve it on a free "
        "127.0.0.1 port, send it a simulated crowd, analyse it, fit a combined "
        "metric and add the study sections to the report",
    )
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    return d


def run(args) -> int:
    import time

    from ..demo import DEMO_BPP, run_demo
    from ..report.tables import default_anchor

    start = time.perf_counter()
    result = run_demo(
        args.codecs or available_codecs(),
        args.out,
        targets=args.bpp or DEMO_BPP,
        weights_dir=args.weights_dir,
        device=args.device,
        workers=args.workers,
        study=args.study,
        progress=not args.quiet,
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"\n{_summary_text(result.summary, default_anchor(result.summary.index))}")
    print(f"\nreport: {result.report.resolve()}  ({time.perf_counter() - start:.1f} s; open it in a browser)")
    return 1 if result.errors else 0


def _summary_text(summary, anchor: str) -> str:
    """The demo's closing table: BD-rates against ``anchor`` and flagged points per codec."""
    import pandas as pd

    from ..metrics import label

    rates = [c for c in summary.columns if c.startswith("bd_rate_")]
    table = pd.DataFrame(index=summary.index)
    for column in rates:
        note = summary[f"note_{column.removeprefix('bd_rate_')}"]
        table[label(column.removeprefix("bd_rate_")).split(" (")[0]] = [
            ("–" if v != v else f"{v:+.1f}") + (f" ({n})" if n else "") for v, n in zip(summary[column], note)
        ]
    table["flagged"] = [f"{f} of {n}" for f, n in zip(summary["flagged"], summary["points"])]
    return (
        f"BD-rate against {anchor} (% of its bits at equal quality; negative saves bits; a low "
        f"overlap or why a value is missing in brackets, see the report) and reconstructions "
        f"off target (flagged; the report reads them from each image's curve):\n{table.to_string()}"
    )
