"""Finding pretrained weights: a local folder first, then the usual caches and download URLs.

``$EVALKIT_WEIGHTS_DIR`` (or ``--weights-dir``) may hold the files under their published names
or the converted files described in ``../shared/README.md``. When a file is neither there nor
in the torch hub cache and cannot be downloaded, :class:`WeightsError` says which file, where it
comes from, and where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import InputError


class WeightsError(InputError):
    """Pretrained weights are missing and could not be fetched."""


def weights_dir(override: str | Path | None = None) -> Path | None:
    value = override or os.environ.get("EVALKIT_WEIGHTS_DIR")
    return Path(value) if value else None


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def local_file(names: list[str], override: str | Path | None = None) -> Path | None:
    """The first of ``names`` found in the weights folder or the torch hub cache."""
    folders = [d for d in (weights_dir(override), hub_checkpoints()) if d is not None]
    return next((d / n for d in folders for n in names if (d / n).is_file()), None)


def fetch(
    url: str, what: str, alternatives: str, override: str | Path | None = None, check_hash: bool = False
) -> Path:
    """Download ``url`` into the torch hub cache (if not there already) and return its path.

    ``check_hash``: the file name carries the first hex digits of its SHA-256 (torch hub's
    convention, which CompressAI follows); a download that does not match is refused."""
    name = url.rsplit("/", 1)[-1]
    found = local_file([name], override)
    if found:
        return found
    try:
        torch.hub.load_state_dict_from_url(url, progress=True, map_location="cpu", check_hash=check_hash)
    except (OSError, RuntimeError) as exc:  # no network, proxy, HTTP error (URLError is an
        # OSError); a download whose hash does not match (torch.hub raises RuntimeError)
        where = weights_dir(override) or "$EVALKIT_WEIGHTS_DIR"
        raise WeightsError(
            f"{what} needs {name}, which is not in {where} or {hub_checkpoints()} and could not "
            f"be downloaded from {url} ({type(exc).__name__}: {exc}). Download it elsewhere and "
            f"put it in one of those folders{alternatives}."
        ) from exc
    return hub_checkpoints() / name
