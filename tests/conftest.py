"""Shared fixtures. Files from ``../shared`` are found through ``$EVALKIT_SHARED_DIR`` and a
PostgreSQL server through ``$EVALKIT_TEST_POSTGRES_URL``; see ``needs.py`` for what happens
when they are missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from needs import unavailable


def _shared_dir() -> Path | None:
    value = os.environ.get("EVALKIT_SHARED_DIR")
    return Path(value) if value and Path(value).is_dir() else None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    found = _shared_dir()
    if found is None:
        unavailable("EVALKIT_SHARED_DIR is not set to the shared/ folder (data and weights)")
    return found


@pytest.fixture(scope="session")
def kodak_dir(shared_dir) -> Path:
    return shared_dir / "data" / "kodak"


@pytest.fixture(scope="session")
def kodak(kodak_dir):
    """A loader of Kodak images by number, as RGB uint8."""
    from evalkit.images import load_image

    return lambda n: load_image(kodak_dir / f"kodim{n:02d}.png")


@pytest.fixture(scope="session")
def kodak_crop(kodak):
    """A loader of a crop of a Kodak image by number, ``short`` × ``long`` pixels in the photo's
    own orientation, from (64, 64), as contiguous RGB uint8: for properties that do not depend on
    the image's size."""

    def crop(n: int, short: int, long: int) -> np.ndarray:
        image = kodak(n)
        h, w = (long, short) if image.shape[0] > image.shape[1] else (short, long)
        return np.ascontiguousarray(image[64 : 64 + h, 64 : 64 + w])

    return crop


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets a cache of its own, so none passes on another's leftovers."""
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def photo_crop(kodak) -> np.ndarray:
    """A small, odd-sized crop of a real photo: fast to encode, awkward for 4:2:0 codecs."""
    return np.ascontiguousarray(kodak(23)[101:198, 203:334])


@pytest.fixture(scope="session")
def study_cache(tmp_path_factory) -> Path:
    """The encode cache of the built studies below (they code the same images at the same rates),
    for tests that rebuild one of them."""
    return tmp_path_factory.mktemp("study-cache")


def _build_study(folder: Path, kodak, cache: Path, **study):
    """A study of ``make_study`` (its ``study`` keywords) built in ``folder``, encoding into
    ``cache``, in this process."""
    from study_fixtures import make_study

    from evalkit.study.config import load_config
    from evalkit.study.design import build_study

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_CACHE_DIR", str(cache))
        config = load_config(make_study(folder, kodak, **study))
        build_study(config, progress=False, workers=1)
    return config


@pytest.fixture(scope="session")
def built_study(tmp_path_factory, kodak, study_cache):
    """A small real study, built once: 2 images × 3 codecs × 2 rates, 4 assignments of 10 trials."""
    return _build_study(tmp_path_factory.mktemp("served-study"), kodak, study_cache)


@pytest.fixture(scope="session")
def built_active_study(tmp_path_factory, kodak, study_cache):
    """The same images, codecs and rates as ``built_study``, sampled actively: 6 pairs per
    assignment, complete at 12 judgements."""
    return _build_study(
        tmp_path_factory.mktemp("active-study"),
        kodak,
        study_cache,
        name="active-study",
        extra='sampling = "active"\nstop_when = { judgements = 12 }\n',
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each storage test runs on SQLite and on a real PostgreSQL server (``$EVALKIT_TEST_POSTGRES_URL``,
    which .ci/run starts on loopback); the PostgreSQL schema is emptied first."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.sqlite'}"
    url = os.environ.get("EVALKIT_TEST_POSTGRES_URL")
    if not url:
        unavailable("EVALKIT_TEST_POSTGRES_URL is not set (a PostgreSQL server for storage tests)")
    from sqlalchemy import create_engine, text

    from evalkit.study.database import Base

    url = _worker_schema(url, create_engine, text)
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return url


def _worker_schema(url: str, create_engine, text) -> str:
    """Under pytest-xdist each worker gets a schema of its own (``search_path``), so that two
    workers' storage tests never empty each other's tables; without xdist the URL is unchanged."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{worker}"'))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{worker}"


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def browser():
    """Debian's headless Chromium, driven by Playwright (never a downloaded browser)."""
    if shutil.which(CHROMIUM) is None:
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def app(built_study, database_url):
    """The web app of the built study, on each database."""
    from study_fixtures import ADMIN_TOKEN

    from webapp import create_app

    return create_app(built_study, database_url, admin_token=ADMIN_TOKEN)


@pytest.fixture
def client(app):
    return app.test_client()
