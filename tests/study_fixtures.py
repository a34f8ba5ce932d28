"""Building small real studies for the study and web-app tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

STUDY = """
name = "{name}"
seed = 11
images = "images"
codecs = ["jpeg", "webp", "jpegxl"]
bpp = [0.4, 1.0]
judgements_per_pair = {judgements}
trials_per_assignment = {per}
sentinels_per_assignment = 2
repeats_per_assignment = 2
completion_code = "DONE-123"
prolific_completion_url = "https://app.prolific.com/submissions/complete?cc=ABC"
reward = "$0.50"
"""


def make_study(
    folder: Path, kodak, name: str = "test-study", judgements: int = 2, per: int = 6, extra: str = ""
) -> Path:
    """Two real photo crops (one landscape, one portrait) × three codecs × two rates; ``extra``
    lines are appended to study.toml."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    Image.fromarray(kodak(3)[100:260, 200:440]).save(folder / "images" / "cafe.png")
    Image.fromarray(kodak(4)[300:500, 150:310]).save(folder / "images" / "hat.png")
    path = folder / "study.toml"
    path.write_text(STUDY.format(name=name, judgements=judgements, per=per) + extra)
    return path


def copy_study(built, folder: Path, extra: str = "") -> Path:
    """A built study in a folder of its own (its out/ gets the test's files), with ``extra`` lines
    appended to its study.toml; the compressed images are linked, not copied."""
    import shutil

    (folder / "out").mkdir(parents=True)
    (folder / "study.toml").write_text((built.folder / "study.toml").read_text() + extra)
    shutil.copy(built.trials_path, folder / "out" / "trials.json")
    for name in ("compress", "sentinels"):
        (folder / "out" / name).symlink_to(built.out_dir / name)
    return folder / "study.toml"


#: The admin token of the apps the web tests build, and the header scripts send it in.
ADMIN_TOKEN = "admin-secret-123"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class AdvancingClock:
    """A stand-in for the ``time`` module of :mod:`evalkit.study.database` whose clock moves on a
    second at every reading, so answers given at once look, to the server's own timing, like a
    person's (the screening's fast-answer rule would otherwise exclude every test rater)."""

    def __init__(self):
        import time

        self.now = time.time()

    def time(self) -> float:
        self.now += 1.0
        return self.now
