"""The optional dependency groups of ``pyproject.toml`` and the one-line message when one is
missing.

The core install (``pip install evalkit``) compresses, measures, fits and reports. Running a study
needs ``evalkit[study]`` (Flask, gunicorn, SQLAlchemy, psycopg, requests), a Dask cluster
``evalkit[cluster]`` and training logs ``evalkit[train]`` (TensorBoard). Those packages are
imported where they are used, so a missing one surfaces as a ``ModuleNotFoundError`` at that
place; :func:`missing_extra` turns it into the extra to install, which the CLI prints as one line.

>>> missing_extra(ModuleNotFoundError("No module named 'flask'", name="flask"))
"this needs the optional 'study' dependencies (flask is not installed): pip install 'evalkit[study]'"
>>> missing_extra(ModuleNotFoundError("No module named 'foo'", name="foo")) is None
True
"""

from __future__ import annotations

#: Each extra and the top-level modules it installs (as ``import`` names them).
EXTRAS: dict[str, tuple[str, ...]] = {
    "study": ("flask", "gunicorn", "sqlalchemy", "psycopg", "requests", "werkzeug"),
    "cluster": ("dask", "distributed"),
    "train": ("tensorboard", "cv2"),
}


def extra_of(module: str | None) -> str | None:
    """The extra that installs ``module`` (a dotted name is looked up by its top level), or None."""
    top = (module or "").partition(".")[0]
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The message for an import that failed because an optional extra is not installed, or None
    when the missing module is not one of evalkit's extras (then it is a real error)."""
    extra = extra_of(error.name)
    if extra is None or error.name is None:
        return None
    return (
        f"this needs the optional '{extra}' dependencies ({error.name.partition('.')[0]} is not "
        f"installed): pip install 'evalkit[{extra}]'"
    )
