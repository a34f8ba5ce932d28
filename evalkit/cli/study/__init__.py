"""``evalkit study ACTION``: a 2AFC study's life, one module per action, each with
``add_parser(subparsers)`` and ``run(args, config)`` (the study's loaded ``study.toml``; None for
``import`` and ``scale``, which read another study's files)."""

from __future__ import annotations

import argparse

from . import analyze, build, export, imports, mturk, scale, serve, simulate

#: The actions, in the order ``evalkit study --help`` lists them.
ACTIONS = {
    "build": build,
    "serve": serve,
    "mturk": mturk,
    "export": export,
    "analyze": analyze,
    "simulate": simulate,
    "import": imports,
    "scale": scale,
}


def add_parser(sub) -> argparse.ArgumentParser:
    st = sub.add_parser(
        "study",
        help="human 2AFC studies: build, serve, MTurk, export",
        description="Run a 2AFC study defined in studies/<name>/study.toml.",
    )
    ssub = st.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    for action in ACTIONS.values():
        action.add_parser(ssub)
    return st


def run(args) -> int:
    from ...study.config import load_config

    config = load_config(args.study) if getattr(args, "study", None) else None
    return ACTIONS[args.study_command].run(args, config)
