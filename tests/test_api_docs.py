"""The API reference (docs/api.md, built by mkdocstrings in CI) covers every public name: each
name ``import evalkit`` offers is listed under the module that defines it."""

import re
from pathlib import Path

import evalkit

API = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def documented() -> dict[str, set[str]]:
    """Module → the members its ``::: module`` block lists."""
    blocks = re.findall(r"^::: (\S+)\n(?:\s+.*\n)*?\s+members: \[([^\]]*)\]", API.read_text(), re.M)
    return {module: {m.strip() for m in members.split(",")} for module, members in blocks}


def test_every_public_name_is_in_the_api_reference():
    pages = documented()
    missing = [
        f"{name} ({module})"
        for name, module in evalkit.EXPORTS.items()
        if name not in pages.get(module, set())
    ]
    assert missing == []


def test_the_reference_lists_only_names_that_exist():
    for module, members in documented().items():
        for name in members:
            assert evalkit.EXPORTS.get(name) == module, f"{module}.{name} is not public"
