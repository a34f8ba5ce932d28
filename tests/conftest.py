"""Shared fixtures. Files from ``../shared`` are found through ``$EVALKIT_SHARED_DIR``; without
it the tests that need them skip, except under CI (``CI=true``), where a skip would hide a gap
and so fails instead."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def _shared_dir() -> Path | None:
    value = os.environ.get("EVALKIT_SHARED_DIR")
    return Path(value) if value and Path(value).is_dir() else None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    found = _shared_dir()
    if found is None:
        reason = "EVALKIT_SHARED_DIR is not set to the shared/ folder (data and weights)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; under CI this must not be skipped")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def kodak_dir(shared_dir) -> Path:
    return shared_dir / "data" / "kodak"


@pytest.fixture(scope="session")
def kodak(kodak_dir):
    """A loader of Kodak images by number, as RGB uint8."""
    from evalkit.images import load_image
    return lambda n: load_image(kodak_dir / f"kodim{n:02d}.png")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets a cache of its own, so none passes on another's leftovers."""
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def photo_crop(kodak) -> np.ndarray:
    """A small, odd-sized crop of a real photo: fast to encode, awkward for 4:2:0 codecs."""
    return np.ascontiguousarray(kodak(23)[101:198, 203:334])
