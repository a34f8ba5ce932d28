"""``evalkit loop``: study → fitted metric → codecs trained on it → second study → answer."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from evalkit.cli import main
from evalkit.errors import InputError
from evalkit.loop import load_experiment
from evalkit.study.crowd import Crowd, CrowdModel, synthetic_design
from evalkit.study.ranking import JOD_SIGMA

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "studies" / "loop-demo" / "experiment.toml"

TINY = """
name = "tiny"
seed = 3
[study]
images = "samples"
codecs = ["jpeg", "webp", "ek-variable-rate-mse"]
bpp = [0.5]
judgements_per_pair = 3
trials_per_assignment = 12
sentinels_per_assignment = 2
repeats_per_assignment = 1
[crowd]
metric = "ms-ssim"
jod_per_unit = 40.0
careless = 0.0
inverted = 0.0
abandons = 0.0
[fit]
metrics = ["psnr", "ms-ssim"]
folds = 3
hypotheses = 200
[train]
base = "ek-variable-rate-mse"
data = "training-samples"
steps = 2
patch = 192
batch = 2
weight = 100.0
[second_study]
judgements_per_pair = 2
"""


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "experiment.toml").write_text(text)
    return folder / "experiment.toml"


def with_crops(folder: Path, text: str) -> str:
    """``text`` judging 256-px crops of the bundled photos (``photos/`` in ``folder``) instead of
    the whole photos: each stage's work is the same, on a third of the pixels or less."""
    from evalkit.datasets import resolve_images
    from evalkit.images import save_png

    (folder / "photos").mkdir(parents=True)
    for ref in resolve_images("samples"):
        save_png(np.ascontiguousarray(ref.load()[:256, :256]), folder / "photos" / f"{ref.name}.png")
    return text.replace('images = "samples"', 'images = "photos"')


@pytest.mark.parametrize(
    "change, message",
    [
        (("[crowd]\n", "[crowd]\nvotes = 3\n"), "crowd.votes is not a key"),
        (('metrics = ["psnr", "ms-ssim"]', 'metrics = ["fid"]'), "unknown pair-level metric 'fid'"),
        (
            ("[second_study]\n", "[second_study]\ncodecs = [\"jpeg\", \"webp\"]\n"),
            "its codecs are the two trained",
        ),
        (("weight = 100.0", "weight = -1.0"), "train.weight = -1.0 must be a positive number"),
        (("weight = 100.0", 'weight = "auto"'), "need two or more rates"),
        (("steps = 2\n", 'steps = "many"\n'), "train.steps = 'many' must be int"),
        (
            ('codecs = ["jpeg", "webp", "ek-variable-rate-mse"]', 'codecs = ["jpeg"]'),
            "at least two distinct codecs",
        ),
        (('name = "tiny"', 'name = "tiny loop"'), "letters, digits and dashes"),
    ],
)
def test_experiment_file_mistakes_are_named(tmp_path, change, message):
    path = write(tmp_path, TINY.replace(*change))
    with pytest.raises(InputError, match=message):
        load_experiment(path)


def test_the_demo_experiment_is_valid():
    experiment = load_experiment(DEMO)
    assert experiment.crowd.metric == "ms-ssim" and experiment.train.base == "ek-variable-rate-mse"
    assert experiment.study_config(2, ["a", "b"]).judgements_per_pair == 40


def test_a_crowd_that_follows_a_metric_prefers_by_it():
    """P(an attentive rater picks A) = Φ((q_A − q_B) / σ_JOD), q the reconstruction's own JOD:
    with no image spread, rater taste and trial noise make up the whole JOD scale."""
    design = synthetic_design(
        ["a", "b"],
        images=200,
        bpp=[0.5],
        judgements_per_pair=40,
        trials_per_assignment=40,
        sentinels=0,
        repeats=0,
    )
    truth = {}
    for trial in (t for a in design.assignments for t in a):
        for side in (trial.left, trial.right):  # b beats a by 0.5 JOD on even images only
            even = int(trial.image[3:]) % 2 == 0
            truth[side.path] = 0.5 if side.codec == "b" and even else 0.0
    crowd = Crowd(
        CrowdModel(
            {"a": 0.0, "b": 0.0},
            image_sd=0.0,
            reconstruction_quality=truth,
            careless=0,
            inverted=0,
            abandons=0,
            seed=1,
        )
    )
    picks = {True: [], False: []}
    for number, trials in enumerate(design.assignments):
        rater = crowd.rater(f"r{number}", "attentive")
        for trial in trials:
            choice = crowd.answer(rater, trial)[0]
            chosen = trial.left if choice == "left" else trial.right
            picks[int(trial.image[3:]) % 2 == 0].append(chosen.codec == "b")
    assert np.mean(picks[True]) == pytest.approx(stats.norm.cdf(0.5 / JOD_SIGMA), abs=0.03)
    assert np.mean(picks[False]) == pytest.approx(0.5, abs=0.03)


@pytest.mark.slow
def test_loop_runs_end_to_end_and_resumes_from_its_cache(tmp_path, capsys):
    """The whole loop on a tiny budget: two fine-tuning steps, studies of a few dozen answers.
    Slow tier, which CI runs (2.5 CPU-minutes, most of it the two studies' builds and reports):
    what each stage calls is tested in the default tier (study building, crowd, fit, training,
    report); the chaining of the stages and the cache are proved here."""
    path = write(tmp_path / "tiny", with_crops(tmp_path / "tiny", TINY))
    assert main(["loop", str(path), "--threads", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Does training on what people prefer make a codec people prefer?" in printed
    out = tmp_path / "tiny" / "out"
    answer = json.loads((out / "answer.json").read_text())
    assert answer["train"]["codecs"] == {"mse": "tiny-mse", "combined": "tiny-combined"}
    assert [row["bpp"] for row in answer["answer"]] == [0.5]
    row = answer["answer"][0]
    assert row["ci"][0] <= row["gap"] <= row["ci"][1] and "truth" in row
    assert answer["fit"]["metrics"] == ["psnr", "ms-ssim"] and 0 <= answer["fit"]["score_2afc"] <= 1
    html = (out / "report.html").read_text()
    assert 'id="loop"' in html and "tiny-combined" in html and "held-out" in html
    # the trained codecs are zoo entries recording where they started and how long they trained
    entry = (out / "zoo" / "tiny-combined.toml").read_text()
    assert "[trained]" in entry and "steps = 2" in entry and "combined:" in entry
    # a second run takes every stage from the cache
    assert main(["loop", str(path), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": cached (") == 7 and ": running" not in printed


@pytest.mark.slow
def test_real_raters_stop_the_loop_until_continue(tmp_path, capsys):
    """Without [crowd], the loop builds the first study and waits (exit status 3) for people."""
    text = TINY[: TINY.index("[crowd]")] + TINY[TINY.index("[fit]") :]
    path = write(tmp_path / "real", with_crops(tmp_path / "real", text))
    assert main(["loop", str(path), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "waiting for people" in err and "evalkit study serve" in err and "--continue" in err
    assert (tmp_path / "real" / "out" / "study1" / "out" / "trials.json").is_file()
    # going on without any answer stored is a clear error, not a traceback
    assert main(["loop", str(path), "--continue", "--quiet"]) == 2
    assert "no responses stored yet" in capsys.readouterr().err


@pytest.mark.manual
def test_loop_demo_trains_the_codec_the_crowd_prefers(tmp_path):
    """studies/loop-demo in full. The crowd follows MS-SSIM, so the codec fine-tuned on the metric
    fitted to it must be better by the crowd's own measure at every rate of the second study
    (a codec that ignored the loss would tie with the baseline: a gap of exactly 0), the study's
    intervals must hold that known gap, and somewhere it must be large enough to be shown."""
    folder = tmp_path / "loop-demo"
    folder.mkdir()
    shutil.copy(DEMO, folder / "experiment.toml")
    assert main(["loop", str(folder / "experiment.toml"), "--quiet"]) == 0
    answer = json.loads((folder / "out" / "answer.json").read_text())
    assert answer["fit"]["score_2afc"] > 0.6
    rows = answer["answer"]
    assert len(rows) == 2
    for row in rows:
        assert row["truth"] > 0, row
        assert row["ci"][0] <= row["truth"] <= row["ci"][1], row
    assert any(row["ci"][0] > 0 for row in rows), rows
