"""An installed evalkit is whole: the wheel ``pip install .`` builds carries the learned zoo and
the shipped model (``codecs/`` through the link ``evalkit/zoo``), the demo study, and the
templates and scripts of the report and the study web app."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_every_data_file_the_package_reads(tmp_path):
    source = tmp_path / "src"  # a clean copy: no build/ or egg-info left by earlier builds
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "runs", "__pycache__", ".pytest_cache", "out"
        ),
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("evalkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"evalkit/zoo/{p.name}" for p in (ROOT / "codecs").iterdir() if p.suffix in (".toml", ".pth", ".csv")
    }
    expected |= {
        "evalkit/demo_study.toml",
        "evalkit/codecs/configurations.toml",
        "evalkit/report/templates/report.html",
    }
    expected |= {
        p.relative_to(ROOT).as_posix()
        for folder in ("templates", "static")
        for p in (ROOT / "webapp" / folder).iterdir()
    }
    assert "evalkit/zoo/ek-variable-rate-mse.pth" in expected
    assert sorted(expected - names) == []
    with zipfile.ZipFile(wheel) as z:  # the links' targets, not the links
        assert z.read("evalkit/demo_study.toml") == (ROOT / "studies/samples-demo/study.toml").read_bytes()
