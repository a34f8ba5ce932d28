"""What several subcommands share: argument types, the cluster options, the metric names and
codecs they offer, and the executor ``--scheduler`` asks for."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, overload

from ..errors import InputError

if TYPE_CHECKING:
    from ..executors import DaskExecutor, LocalExecutor
    from ..shards import Shard

#: Our own small trained model (codecs/ek-variable-rate-mse.*), the learned codec that runs offline.
SHIPPED_MODEL = "ek-variable-rate-mse"
PRIMARY_CODECS = ("jpeg", "jpeg2000", "webp", "hevc-bpg", "bpg", "vvc", "avif", "jpegxl", SHIPPED_MODEL)


class LibraryChoices(Sequence[str]):
    """The choices of an option, read from the library module that defines them only when argparse
    checks a value or prints a command's help, so that building the whole parser (``evalkit
    --help``) imports neither that module nor pandas and SciPy behind it. Give the option a
    ``metavar`` (argparse would otherwise list the choices as it adds the option) and write
    ``%(choices)s`` in its help.

    >>> rules = LibraryChoices("evalkit.study.comparisons", "NOT_SURE_RULES")
    >>> "split" in rules, "maybe" in rules
    (True, False)
    """

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def _names(self) -> Sequence[str]:
        names: Sequence[str] = getattr(importlib.import_module(self.module), self.name)
        return names

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, value: object) -> bool:
        return value in self._names()


def bpp_targets(text: str) -> list[float]:
    """``--bpp``: comma-separated positive, finite numbers.

    >>> bpp_targets("0.25, 0.5,1")
    [0.25, 0.5, 1.0]
    """
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(not v > 0 or v == float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"bpp targets must be positive numbers, got {text!r}")
    return values


def name_list(text: str) -> list[str]:
    """A comma-separated list of names, blanks dropped.

    >>> name_list("psnr, ms-ssim,,lpips")
    ['psnr', 'ms-ssim', 'lpips']
    """
    return [v.strip() for v in text.split(",") if v.strip()]


def shard_spec(text: str) -> Shard:
    from ..shards import Shard

    try:
        return Shard.parse(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_cluster_options(p: argparse.ArgumentParser, unit: str) -> None:
    """--scheduler, --batch and --shard, shared by compress and metrics."""
    from ..executors import DEFAULT_BATCH, SCHEDULER_ENV

    p.add_argument(
        "--scheduler",
        help="run on a Dask cluster: its scheduler's address, e.g. "
        f"tcp://HOST:8786 (default: ${SCHEDULER_ENV}, else this machine; "
        "'local' for this machine)",
    )
    p.add_argument(
        "--batch", type=int, default=None, help=f"Dask: {unit}s per Dask task (default: {DEFAULT_BATCH})"
    )
    p.add_argument(
        "--shard",
        type=shard_spec,
        default=None,
        metavar="K/N",
        help=f"do only the K-th of N shares of the {unit}s (job arrays: Slurm --array=1-N "
        "with K=$SLURM_ARRAY_TASK_ID); join the N outputs with 'evalkit merge'",
    )


def metric_names(level: str | None = None) -> list[str]:
    from ..metrics import METRICS

    return [name for name, m in METRICS.items() if level in (None, m.level)]


def add_training_options(p: argparse.ArgumentParser, threads_help: str, device: str | None = "auto") -> None:
    """Where a command that trains runs: the device (``device``: its default, None meaning auto
    to the metric engine too), the CPU threads, the LPIPS weights and whether it draws progress
    bars."""
    p.add_argument("--device", default=device, help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--threads", type=int, help=threads_help)
    p.add_argument(
        "--weights-dir",
        help="LPIPS weights, for losses, metrics and validation (default: $EVALKIT_WEIGHTS_DIR)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def default_metrics() -> list[str]:
    """The metrics measured when none are named: the registry's shown pair metrics."""
    from ..metrics import DEFAULT_METRICS

    return list(DEFAULT_METRICS)


@contextmanager
def cluster_executor(
    args: argparse.Namespace, local_workers: int | None
) -> Iterator[LocalExecutor | DaskExecutor]:
    """The executor ``--scheduler`` asks for, closed when the command ends."""
    from ..executors import executor_for

    chosen = executor_for(args.scheduler, local_workers, args.batch)
    try:
        yield chosen
    finally:
        chosen.close()


def available_codecs() -> list[str]:
    """The primary codecs that can run on this machine (the shipped model when its file is there)."""
    from ..codecs import FAMILIES, configurations, get_codec
    from ..codecs.learned import LearnedCodec

    classical = [
        n
        for n in PRIMARY_CODECS
        if n in configurations() and not FAMILIES[configurations()[n]["family"]].unavailable_reason()
    ]
    shipped = get_codec(SHIPPED_MODEL, device="cpu")
    ready = isinstance(shipped, LearnedCodec) and shipped.unavailable_here() is None
    return classical + ([SHIPPED_MODEL] if ready else [])
