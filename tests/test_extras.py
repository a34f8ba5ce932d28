"""The optional extras: a command that needs one that is not installed says which to install, in
one line with exit status 2, instead of a traceback. A missing package is simulated by blocking
its import (``sys.modules[name] = None``) in a fresh interpreter."""

import subprocess
import sys
from pathlib import Path

import pytest

STUDY = Path(__file__).resolve().parents[1] / "studies" / "samples-demo" / "study.toml"


def evalkit_without(blocked: str, *argv: str) -> subprocess.CompletedProcess:
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        f"from evalkit.cli import main\nsys.exit(main({list(argv)!r}))"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "blocked, argv, extra",
    [
        ("sqlalchemy", ("study", "export", str(STUDY)), "study"),
        (
            "distributed",
            (
                "compress",
                "--images",
                "samples",
                "--codecs",
                "jpeg",
                "--bpp",
                "0.5",
                "--out",
                "{tmp}",
                "--scheduler",
                "tcp://127.0.0.1:1",
            ),
            "cluster",
        ),
    ],
)
def test_a_missing_extra_is_named_in_one_line(blocked, argv, extra, tmp_path):
    done = evalkit_without(blocked, *(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'evalkit[{extra}]'" in lines[0], done.stderr


def test_a_missing_module_that_is_no_extra_stays_a_bug():
    from evalkit.extras import missing_extra

    assert missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy")) is None
