"""Doctest collection of the packages (``--doctest-modules``, see pyproject.toml): every module of
evalkit and webapp is imported, except gunicorn's entry point, which builds the app from the
environment ``evalkit study serve`` sets and has no examples."""

collect_ignore = ["webapp/wsgi.py"]
