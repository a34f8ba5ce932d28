"""Importing or calling evalkit changes nothing in the caller's process and edits no tracked file."""

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

#: Run in a fresh interpreter, so that every import is evalkit's first: a caller's state before
#: (with the libraries evalkit uses imported: what their own imports change — scikit-learn's
#: KMP_* variables, torch inductor's cache variable, scipy's and urllib3's warning filters — is
#: theirs), every public module of evalkit imported, a metric run on the CPU (engine and public forms), figures
#: drawn, an engine made for CUDA, a zoo folder added; the same state after.
CALLER = textwrap.dedent('''
    import importlib, os, pkgutil, sys, tempfile, warnings
    from pathlib import Path
    import matplotlib
    matplotlib.use("svg")          # the caller's choice (a notebook's would be inline)
    import torch
    warnings.simplefilter("default")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.set_num_threads(1)

    def state():
        return (matplotlib.get_backend(), torch.backends.cuda.matmul.allow_tf32,
                torch.backends.cudnn.allow_tf32, torch.get_num_threads(), list(warnings.filters),
                dict(os.environ))

    for library in ("compressai", "requests", "scipy.stats", "sklearn"):
        importlib.import_module(library)
    before = state()
    import evalkit
    for module in pkgutil.walk_packages(evalkit.__path__, "evalkit."):
        if not module.name.endswith("__main__"):    # runs the command
            importlib.import_module(module.name)

    import numpy as np, pandas as pd
    from evalkit.codecs import get_codec
    from evalkit.codecs.checkpoints import learned_zoo, zoo_with
    from evalkit.datasets import resolve_images
    from evalkit.images import save_png
    from evalkit.metrics import MetricEngine, functional
    from evalkit.report.figures import rd_figure
    from evalkit.study.plots import _message

    image = resolve_images("samples")[0].load()[:192, :192]
    jpeg = get_codec("jpeg")
    folder = Path(tempfile.mkdtemp())
    save_png(image, folder / "ref.png")
    save_png(jpeg.decode(jpeg.encode(image, 40.0)), folder / "rec.png")
    pairs = pd.DataFrame({"reference": ["ref.png"], "reconstruction": ["rec.png"]})
    values = MetricEngine(["psnr", "ms-ssim"], device="cpu", cache=False).evaluate(
        pairs, root=folder, progress=False).pairs
    assert 25 < values.loc[0, "psnr"] < 45
    x = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    assert functional.psnr(reference=x, distorted=x.flip(-1)) > 0
    MetricEngine(["psnr"], device="cuda", cache=False)       # made, never run: no GPU here
    curve = pd.DataFrame({"panel": "all", "codec": "jpeg", "bpp": [0.5, 1.0], "value": [30.0, 33.0]})
    rd_figure(curve, "psnr", True, {"jpeg": "#1f77b4"}, folder / "rd")
    _message("a message", folder / "message")
    (folder / "zoo").mkdir()
    (folder / "zoo" / "mine.toml").write_text(Path(evalkit.__file__).parent.joinpath(
        "zoo", "bmshj2018-hyperprior-mse.toml").read_text())
    with zoo_with(folder / "zoo"):
        assert "mine" in learned_zoo() and dict(os.environ) == before[5]
    assert "mine" not in learned_zoo()

    after = state()
    names = ["matplotlib backend", "matmul TF32", "cuDNN TF32", "threads", "warnings filters", "os.environ"]
    changed = [n for n, a, b in zip(names, before, after) if a != b]
    print("changed:", changed)
    sys.exit(1 if changed else 0)
''')


def test_importing_and_calling_evalkit_leaves_the_callers_process_as_it_was():
    result = subprocess.run(
        [sys.executable, "-c", CALLER],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "changed: []" in result.stdout


def _tracked_state() -> dict:
    """Every file under codecs/ by content, and ``git status`` where this is a checkout."""
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((ROOT / "codecs").iterdir())}
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return {"files": files, "git": status.stdout if status.returncode == 0 else None}


def test_training_a_zoo_recipe_writes_only_to_its_output_folder(tmp_path, shared_dir):
    from evalkit.cli import main

    bsds = shared_dir / "data" / "bsds500"
    for part, size, count in (("train", (160, 160), 2), ("val", (192, 176), 1)):
        (tmp_path / "data" / part).mkdir(parents=True)
        for i, name in enumerate(sorted((bsds / part).glob("*.jpg"))[:count]):
            Image.open(name).convert("RGB").crop((0, 0, *size)).save(tmp_path / "data" / part / f"{i}.png")
    recipe = ROOT / "codecs" / "ek-hyperprior-mse.toml"
    before = _tracked_state()
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--recipe",
                str(recipe),
                "--data",
                str(tmp_path / "data"),
                "--out",
                str(out),
                "--steps",
                "1",
                "--device",
                "cpu",
                "--threads",
                "1",
                "--quiet",
                "--weights-dir",
                str(shared_dir / "weights"),
            ]
        )
        == 0
    )
    assert _tracked_state() == before
    assert "[trained]" in (out / "ek-hyperprior-mse.toml").read_text()
    assert "[trained]" not in recipe.read_text()
    assert (
        main(
            [
                "train",
                "--recipe",
                str(recipe),
                "--data",
                str(tmp_path / "data"),
                "--out",
                str(out),
                "--zoo",
                str(recipe.parent),
                "--steps",
                "1",
                "--quiet",
            ]
        )
        == 2
    )  # over the recipe: refused
    assert _tracked_state() == before
