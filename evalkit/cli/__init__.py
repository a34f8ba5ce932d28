"""The ``evalkit`` command: a thin layer over the library (``evalkit --help``).

One module per subcommand, each with ``add_parser(subparsers)`` (its options) and ``run(args)``
(parse, call the library, print); what several share is in :mod:`.options`.

Exit codes: 0 success, 1 the run finished but some images or codecs failed, 2 usage error (an
:class:`~evalkit.errors.InputError`, or an optional extra that is not installed: :mod:`evalkit.extras`).
"""

from __future__ import annotations

import argparse
import gc
import sys

from .. import __version__
from ..errors import InputError
from ..extras import missing_extra
from . import codecs, compress, demo, external, fit, loop, merge, metrics, report, study, train

#: The subcommands, in the order ``evalkit --help`` lists them.
COMMANDS = {
    "codecs": codecs,
    "compress": compress,
    "import": external,
    "metrics": metrics,
    "merge": merge,
    "fit": fit,
    "report": report,
    "demo": demo,
    "loop": loop,
    "train": train,
    "study": study,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalkit", description="Judge image codecs the way people see them."
    )
    parser.add_argument("--version", action="version", version=f"evalkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user error (:class:`~evalkit.errors.InputError`) is one line on stderr
    and exit status 2; any other exception is a bug and keeps its traceback.

    Run as the process's own command (``argv`` None: the ``evalkit`` script, ``python -m
    evalkit.cli``), the objects left when the command returns are frozen (:func:`gc.freeze`): the
    process is about to exit, and the interpreter's last collection would otherwise walk the
    million objects torch and torchvision import, about a CPU-second after ``evalkit metrics``."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except (InputError, ModuleNotFoundError) as exc:
        message = missing_extra(exc) if isinstance(exc, ModuleNotFoundError) else str(exc)
        if message is None:
            raise
        command = " ".join(filter(None, [args.command, getattr(args, "study_command", None)]))
        print(f"evalkit {command}: error: {message}", file=sys.stderr)
        return 2
    finally:
        if argv is None:
            gc.freeze()
