"""Drawn files a report carries over from its previous rendering instead of drawing them again.

The report's files folder is rebuilt on every run, so nothing stale survives, but drawing is the
slow part of a rerun (matplotlib needs about a second per rate–distortion figure, the visual
comparison dozens of PNG encodes). Each group of drawn files is recorded under a hash of
everything it is drawn from (``inputs.json`` in the folder); when a rerun's inputs hash the
same, the previous files are moved into the new folder and not drawn.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..files import text_hash, write_json

KEYS_FILE = "inputs.json"


def inputs_key(*parts) -> str:
    """A hash of ``parts`` (strings, or anything ``json`` writes the same way every time)."""
    return text_hash(json.dumps(parts, sort_keys=True, default=str))


class Carry:
    """The new files folder ``files``; the previous one is kept aside until :meth:`close`."""

    def __init__(self, files: Path):
        self.files, self.previous = files, files.with_name(f".{files.name}.previous")
        if self.previous.exists():  # left by a rendering that failed: start afresh
            shutil.rmtree(self.previous)
        if files.exists():
            files.rename(self.previous)
        files.mkdir(parents=True)
        keys = self.previous / KEYS_FILE
        self.old_keys = json.loads(keys.read_text()) if keys.is_file() else {}
        self.keys: dict[str, str] = {}

    def reuse(self, name: str, key: str, paths: list[Path]) -> bool:
        """Whether ``paths`` (in the new folder), drawn from inputs hashing to ``key``, came over
        from the previous rendering; if not, the caller draws them."""
        self.keys[name] = key
        old = [self.previous / p.name for p in paths]
        if self.old_keys.get(name) != key or not all(p.is_file() for p in old):
            return False
        for source, path in zip(old, paths):
            source.rename(path)
        return True

    def close(self) -> None:
        """Record what this rendering's files were drawn from; drop the previous folder."""
        write_json(self.files / KEYS_FILE, self.keys)
        shutil.rmtree(self.previous, ignore_errors=True)
