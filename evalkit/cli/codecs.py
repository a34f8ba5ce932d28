"""``evalkit codecs``: every codec, whether it can run here, and its version; learned codecs
whose checkpoints download on first use, and the zoo's recipes that are not trained yet, apart."""

from __future__ import annotations

import argparse

#: The sections ``evalkit codecs`` prints, by :data:`evalkit.codecs.STATUSES`, in this order.
SECTIONS = {
    "ready": "Codecs that run here",
    "downloads": "Learned codecs whose checkpoints download on first use (or from $EVALKIT_WEIGHTS_DIR)",
    "untrained": "Recipes not trained yet (`evalkit train --recipe codecs/NAME.toml`, see each file)",
    "unavailable": "Codecs that cannot run here",
}


def add_parser(sub) -> argparse.ArgumentParser:
    cs = sub.add_parser("codecs", help="list every codec, whether it can run here, and its version")
    cs.add_argument(
        "--weights-dir",
        help="folder with learned-codec checkpoints "
        "(default: $EVALKIT_WEIGHTS_DIR, then the torch hub cache)",
    )
    return cs


def run(args) -> int:
    from ..codecs import codec_table
    from ..codecs.learned_names import FORMS

    rows = codec_table(args.weights_dir)
    width = max(len(r.name) for r in rows)
    axes = {
        r.name: ""
        if r.status == "untrained"
        # an untrained recipe has no rates yet
        else f"{r.axis.name} {r.axis.lo:g}–{r.axis.hi:g}{' (integer)' if r.axis.integer else ''}"
        for r in rows
    }
    axis_width = max(map(len, axes.values()))
    for status, title in SECTIONS.items():
        section = [r for r in rows if r.status == status]
        if not section:
            continue
        print(f"{title}:")
        for r in section:
            opts = " ".join(
                f"{k}={v}" for k, v in r.options.items() if not (status == "untrained" and k == "rungs")
            )
            state = {"ready": r.version, "unavailable": r.unavailable}.get(status, "")
            print(f"  {r.name:<{width}}  {axes[r.name]:<{axis_width}} {opts:<28} {state}".rstrip())
        print()
    print(f"Learned codecs also answer to {FORMS}.")
    return 0
