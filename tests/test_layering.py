"""Data flows one way: images → codecs → metrics → fit / study → report. Each package may not
import the ones its row of the package table in docs/architecture.md lists under "must not
import" (checked on the source, so a lazy import inside a function counts too). The table is read
here, so the document and the check cannot drift apart."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
HEADER = "| package | owns | must not import |"


def table_rows(doc: Path = DOC) -> list[tuple[list[str], str]]:
    """Each row of the package table: its modules (``evalkit/images.py``, ``datasets.py`` →
    ``evalkit.images``, ``evalkit.datasets``) and its "must not import" cell."""
    lines = doc.read_text().splitlines()
    start = lines.index(HEADER) + 2  # past the header and the --- row
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = line.strip("|").split("|")
        package, forbidden = cells[0], cells[-1].strip()
        paths = re.findall(r"`([^`]+)`", package)
        folder = paths[0].rpartition("/")[0] if "/" in paths[0].rstrip("/") else ""
        rows.append(([_module(p if "/" in p else f"{folder}/{p}") for p in paths], forbidden))
    return rows


def _module(path: str) -> str:
    return path.strip("/").removesuffix(".py").replace("/", ".")


def forbidden_imports(rows: list[tuple[list[str], str]]) -> dict[str, list[str]]:
    """Module → what it must not import, from the table's words: a list of names (``metrics,
    webapp``: evalkit's packages, and webapp), "anything below", "NAME and everything after",
    "any evalkit module but A and B", "—" (nothing) or "code" (the folder holds no Python)."""
    modules = [m for paths, _ in rows for m in paths]

    def name(word: str) -> str:
        found = word if word in modules else f"evalkit.{word}"
        assert found in modules, f"{word!r} in the table names no row"
        return found

    table = {}
    for n, (paths, text) in enumerate(rows):
        below = [m for later, _ in rows[n + 1 :] for m in later]
        after = re.fullmatch(r"(\S+) and everything after", text)
        but = re.fullmatch(r"any evalkit module but (.+)", text)
        if text in ("—", "code"):
            forbidden = []
        elif text == "anything below":
            forbidden = below
        elif after:
            first = modules.index(name(after[1]))
            forbidden = modules[first:]
        elif but:
            allowed = {name(w) for w in re.split(r", | and ", but[1])}
            forbidden = [m for m in modules if m.startswith("evalkit.") and m not in allowed]
        else:
            forbidden = [name(w) for w in text.split(", ")]
        table.update({m: forbidden for m in paths})
    return table


ROWS = table_rows()
FORBIDDEN = forbidden_imports(ROWS)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of every module ``path`` imports, relative imports resolved."""
    package = ".".join(path.relative_to(root).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def sources(module: str, root: Path = ROOT) -> list[Path]:
    """The Python files of ``module``: a package folder's, or the one file."""
    folder = root.joinpath(*module.split("."))
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]


def violations(package: str, root: Path = ROOT, forbidden: dict = FORBIDDEN) -> list[str]:
    found = []
    for path in sources(package, root):
        for name in sorted(imports_of(path, root)):
            if any(name == f or name.startswith(f + ".") for f in forbidden[package]):
                found.append(f"{path.relative_to(root)} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(m for m in FORBIDDEN if FORBIDDEN[m]))
def test_no_import_against_the_flow(package):
    assert violations(package) == []


def test_every_module_has_a_row():
    """A new module cannot slip past the table: each one of evalkit and webapp is in a row."""
    rows = set(FORBIDDEN)
    files = [p for top in ("evalkit", "webapp") for p in sorted((ROOT / top).rglob("*.py"))]
    unlisted = [
        str(p.relative_to(ROOT))
        for p in files
        if p != ROOT / "evalkit" / "__init__.py"
        and not any(m in rows for m in _prefixes(_module(str(p.relative_to(ROOT)))))
    ]
    assert unlisted == []


def _prefixes(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts) + 1)]


def test_code_rows_hold_no_code():
    for paths, text in ROWS:
        if text == "code":
            assert [p for m in paths for p in ROOT.joinpath(*m.split(".")).rglob("*.py")] == []


@pytest.mark.parametrize("module, importers", [("evalkit.cli", []), ("evalkit.loop", ["evalkit.cli"])])
def test_the_top_is_imported_by_nobody_below(module, importers):
    """The CLI is imported by nothing; the loop by the CLI only (the table's "owns" says so)."""
    others = [m for m in FORBIDDEN if m != module and m not in importers and m.startswith("evalkit.")]
    assert [v for m in others for v in violations(m, forbidden={m: [module]})] == []


def test_the_table_is_read_whole():
    assert FORBIDDEN["evalkit.images"][:3] == ["evalkit.codecs", "evalkit.executors", "evalkit.shards"]
    assert FORBIDDEN["evalkit.errors"] == FORBIDDEN["evalkit.images"]
    assert "evalkit.metrics" in FORBIDDEN["evalkit.compress"] and "webapp" in FORBIDDEN["evalkit.compress"]
    assert "evalkit.study" not in FORBIDDEN["webapp"] and "evalkit.train" in FORBIDDEN["webapp"]
    assert FORBIDDEN["evalkit.cli"] == ["webapp"]


def test_the_check_sees_relative_and_lazy_imports(tmp_path):
    assert "evalkit.metrics.base" in imports_of(ROOT / "evalkit" / "metrics" / "psnr.py")
    (tmp_path / "evalkit" / "metrics").mkdir(parents=True)
    (tmp_path / "evalkit" / "metrics" / "probe.py").write_text(
        "import numpy\nfrom .base import PairMetric\n\ndef f():\n    from ..fit import model\n"
    )
    assert violations("evalkit.metrics", tmp_path) == [
        "evalkit/metrics/probe.py imports evalkit.fit",
        "evalkit/metrics/probe.py imports evalkit.fit.model",
    ]
