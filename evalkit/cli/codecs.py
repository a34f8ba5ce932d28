"""``evalkit codecs``: every codec, whether it can run here, and its version."""
from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    cs = sub.add_parser("codecs", help="list every codec, whether it can run here, and its version")
    cs.add_argument("--weights-dir", help="folder with learned-codec checkpoints "
                                          "(default: $EVALKIT_WEIGHTS_DIR, then the torch hub cache)")
    return cs


def run(args) -> int:
    from ..codecs import codec_table
    from ..codecs.learned_names import FORMS

    rows = codec_table(args.weights_dir)
    width = max(len(r.name) for r in rows)
    axes = [f"{r.axis.name} {r.axis.lo:g}–{r.axis.hi:g}{' (integer)' if r.axis.integer else ''}" for r in rows]
    for r, axis in zip(rows, axes):
        opts = " ".join(f"{k}={v}" for k, v in r.options.items())
        state = r.version if r.version else f"UNAVAILABLE: {r.unavailable}"
        print(f"{r.name:<{width}}  {axis:<{max(map(len, axes))}} {opts:<28} {state}")
    print(f"\nLearned codecs also answer to {FORMS}.")
    return 0
