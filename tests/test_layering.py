"""Data flows one way: images → codecs → metrics → fit / study → report. Each package below may
not import the ones listed for it (checked on the source, so a lazy import inside a function
counts too)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "evalkit.codecs": ["evalkit.metrics", "evalkit.fit", "evalkit.study", "evalkit.report",
                       "evalkit.train", "webapp"],
    "evalkit.metrics": ["evalkit.codecs", "evalkit.compress", "evalkit.fit", "evalkit.study",
                        "evalkit.report", "evalkit.train", "webapp"],
    "evalkit.models": ["evalkit.codecs", "evalkit.metrics", "evalkit.fit", "evalkit.study",
                       "evalkit.report", "evalkit.train", "webapp"],
    "evalkit.fit": ["evalkit.study", "evalkit.report", "evalkit.train", "evalkit.loop", "webapp"],
    "evalkit.train": ["evalkit.study", "evalkit.report", "evalkit.loop", "webapp"],
    "evalkit.study": ["evalkit.report", "evalkit.train", "evalkit.loop", "webapp"],
    "evalkit.report": ["evalkit.loop", "webapp"],
    "evalkit.loop": ["webapp"],
    "evalkit": ["webapp"],
}


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


def violations(package: str, root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted(root.joinpath(*package.split(".")).rglob("*.py")):
        for name in sorted(imports_of(path, root)):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                found.append(f"{path.relative_to(root)} imports {name}")
    return found


@pytest.mark.parametrize("package", FORBIDDEN)
def test_no_import_against_the_flow(package):
    assert violations(package) == []


def test_the_check_sees_relative_and_lazy_imports(tmp_path):
    assert "evalkit.metrics.base" in imports_of(ROOT / "evalkit" / "metrics" / "psnr.py")
    (tmp_path / "evalkit" / "metrics").mkdir(parents=True)
    (tmp_path / "evalkit" / "metrics" / "probe.py").write_text(
        "import numpy\nfrom .base import PairMetric\n\ndef f():\n    from ..fit import model\n")
    assert violations("evalkit.metrics", tmp_path) == ["evalkit/metrics/probe.py imports evalkit.fit",
                                                       "evalkit/metrics/probe.py imports evalkit.fit.model"]
