"""The loop's stages, each cached in ``out/loop.json`` and resumed from there.

1. ``study``: the first study (the existing codecs) built — compressed at matched bpp, planned.
2. ``judgements``: its answers — a simulated crowd served over loopback HTTP, or real raters,
   for whom the loop stops (:class:`WaitingForPeople`) until ``--continue`` — then screened and
   analysed (``out/study1/out/analysis/``, ``judgements.csv`` after exclusions).
3. ``fit``: the combined metric fitted on the screened judgements (``evalkit fit``'s
   :func:`~evalkit.fit.fit_judgements`), its held-out 2AFC score with a 95 % interval.
4. ``train``: two codecs fine-tuned from the base zoo codec's weights with its recipe, the same
   data, steps and seed: one on the base's loss (the MSE baseline), one on a blend that gives
   the fitted metric q the share s of the distortion: rate + λ·((1 − s)·255²·MSE + s·w·(−q))
   for an MSE base. ``weight = "auto"`` takes w so that a bit buys as much of w·q as of MSE on
   the first study's rate–quality curves (:func:`_auto_weight`), so the blend weighs as much
   against the rate as the base's loss did and both codecs keep their rate range. Keep some of
   the base's term (s < 1): a fitted q is blind to what its metrics are blind to (MS-SSIM
   barely sees a colour cast; a q with a negative PSNR weight rewards one), and a codec trained
   on q alone learns exactly those faults — measured: 11.8 dB PSNR after 300 steps on
   q = −0.02·PSNR + 10.3·MS-SSIM.
5. ``second-study`` and ``second-judgements``: the two trained codecs compared at matched bpp.
6. ``report``: ``out/answer.json`` and ``out/report.html``, whose first section answers the
   question with the second study's own intervals.

A stage is rerun when what it depends on changed — its part of the experiment file, the stage
before it, and for real raters the number of answers stored — and so is every stage after it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tomli_w

from ..codecs.checkpoints import learned_zoo, zoo_dirs, zoo_with
from ..datasets import resolve_images
from ..errors import InputError
from ..files import read_toml, write_json
from ..fit import COMBINED_PREFIX, CombinationModel, fit_judgements
from ..images import save_png
from ..metrics import MetricEngine, metric, read_pairs, write_table
from ..report.build import ReportOptions, write_report
from ..study.analyze import analyze, write_analysis
from ..study.config import StudyConfig, database_url, save_config
from ..study.crowd import Crowd, CrowdModel, metric_following_quality, shown_pairs
from ..study.database import connect
from ..study.design import Design, build_study
from ..study.responses import responses
from ..study.screening import ScreeningRules
from ..study.simulate import crowd_on_served_study
from ..train.recipe import load_recipe
from ..train.trainer import Trainer
from .experiment import Experiment

QUESTION = "Does training on what people prefer make a codec people prefer?"
VARIANTS = ("mse", "combined")  # the baseline first


class WaitingForPeople(Exception):
    """A study needs real raters before the loop can go on (``evalkit loop`` exits with 3)."""


class StageLog:
    """``out/loop.json``: per stage, the key of what it was computed from and its result."""

    def __init__(self, path: Path, progress: bool = True):
        self.path, self.progress = path, progress
        self.stages = json.loads(path.read_text())["stages"] if path.is_file() else {}
        self.previous = ""

    def run(self, name: str, inputs, work: Callable[[], dict]) -> dict:
        key = hashlib.sha256(
            json.dumps([self.previous, name, inputs], sort_keys=True, default=str).encode()
        ).hexdigest()
        self.previous = key
        done = self.stages.get(name)
        if done and done["key"] == key:
            self._say(f"{name}: cached ({done['finished']})")
            return done["result"]
        self._say(f"{name}: running")
        result = work()
        finished = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.stages[name] = {"key": key, "finished": finished, "result": result}
        write_json(self.path, {"stages": self.stages})
        return result

    def _say(self, line: str) -> None:
        if self.progress:
            print(f"loop · {line}", flush=True)


@dataclass
class LoopContext:
    experiment: Experiment
    resume: bool
    engine_options: dict
    progress: bool

    @property
    def out(self) -> Path:
        return self.experiment.out_dir


def run_loop(
    experiment: Experiment,
    resume: bool = False,
    weights_dir=None,
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> dict:
    """Run (or resume) every stage of ``experiment``; returns the answer (``out/answer.json``
    and the report's path). Raises :class:`WaitingForPeople` where real raters are needed."""
    ctx = LoopContext(experiment, resume, {"weights_dir": weights_dir, "device": device}, progress)
    log = StageLog(ctx.out / "loop.json", progress)
    first = experiment.study_config(1)
    save_config(first)  # always: `evalkit study serve`, `… analyze` and the server read it
    log.run("study", asdict(first), lambda: _build(ctx, first))
    judged = log.run("judgements", _answers_key(ctx, first), lambda: _judge(ctx, first))
    fit = log.run("fit", asdict(experiment.fit), lambda: _fit(ctx, judged))
    trained = log.run(
        "train", asdict(experiment.train), lambda: _train(ctx, first, fit, weights_dir, threads)
    )
    second = experiment.study_config(2, [trained["codecs"][v] for v in reversed(VARIANTS)])
    save_config(second)
    with zoo_with(ctx.out / "zoo"):
        log.run("second-study", asdict(second), lambda: _build(ctx, second, measure=True))
    judged2 = log.run("second-judgements", _answers_key(ctx, second), lambda: _judge(ctx, second))
    return log.run("report", [], lambda: _report(ctx, second, fit, trained, judged, judged2))


# ------------------------------------------------------------------------------- studies
def _build(ctx: LoopContext, config: StudyConfig, measure: bool = False) -> dict:
    """The study compressed and planned; with ``measure``, its reconstructions' metrics too
    (the report's rate–quality tables of the second study)."""
    design = build_study(config, progress=ctx.progress)
    if measure:
        manifest = config.out_dir / "compress" / "manifest.csv"
        pairs = (
            MetricEngine(_measured(ctx), **ctx.engine_options)
            .evaluate(read_pairs(manifest), root=manifest.parent, progress=ctx.progress, sets=False)
            .pairs
        )
        write_table(pairs, manifest.with_name("metrics.csv"))
    return {
        "trials": str(config.trials_path),
        "assignments": len(design.assignments),
        "rejected": len(design.rejected),
    }


def _measured(ctx: LoopContext) -> list[str]:
    crowd = [ctx.experiment.crowd.metric] if ctx.experiment.crowd else []
    return list(dict.fromkeys(["psnr", *ctx.experiment.fit.metrics, *crowd]))


def _answers_key(ctx: LoopContext, config: StudyConfig):
    """What a study's answers depend on: the crowd, or for real raters how many are stored."""
    if ctx.experiment.crowd:
        return asdict(ctx.experiment.crowd)
    stored = len(responses(connect(database_url(config)))) if config.database_path.is_file() else 0
    return {"real raters": stored}


def _judge(ctx: LoopContext, config: StudyConfig) -> dict:
    """The study's answers (simulated, or waited for), screened and analysed."""
    design = Design.load(config.trials_path)
    url = database_url(config)
    crowd = ctx.experiment.crowd
    if crowd:
        config.database_path.unlink(missing_ok=True)
        truth = metric_following_quality(
            design, crowd.metric, crowd.jod_per_unit, config.out_dir, ctx.engine_options
        )
        model = CrowdModel(
            {codec: 0.0 for codec in config.codecs},
            image_sd=0.0,
            rater_sd=crowd.rater_sd,
            careless=crowd.careless,
            inverted=crowd.inverted,
            abandons=crowd.abandons,
            seed=config.seed,
            reconstruction_quality=truth,
        )
        crowd_on_served_study(config, design, url, Crowd(model), crowd.raters, progress=ctx.progress)
        write_json(config.out_dir / "crowd_truth.json", truth)
    elif not ctx.resume:
        raise WaitingForPeople(
            f"{config.name} is built and needs raters: serve it with `evalkit study serve "
            f"{config.folder / 'study.toml'}` (and post it: `evalkit study mturk …`); when enough "
            f"have answered, run `evalkit loop {ctx.experiment.source} --continue`"
        )
    result = analyze(
        responses(connect(url)),
        ScreeningRules(),
        codecs=config.codecs,
        n_boot=500,
        seed=config.seed,
        metrics=ctx.experiment.fit.metrics,
        root=config.out_dir,
        engine_options=ctx.engine_options,
        progress=ctx.progress,
    )
    analysis = config.out_dir / "analysis"
    write_analysis(result, analysis)
    view = result.views["screened"]
    if view.judgements is None or view.judgements.empty:
        raise InputError(
            f"{config.name}: no judgement is left after screening "
            f"({len(result.raters)} raters, {int(result.raters['excluded'].sum())} "
            f"excluded; see {analysis / 'raters.csv'}); it needs more raters"
        )
    return {
        "judgements": str(analysis / "judgements.csv"),
        "raters": view.raters,
        "excluded": int(result.raters["excluded"].sum()),
        "ranking": view.ranking.scores.to_dict("records"),
        "gaps": view.ranking.gaps.to_dict("records"),
    }


def _fit(ctx: LoopContext, judged: dict) -> dict:
    spec = ctx.experiment.fit
    path = ctx.out / "fit" / "combined.json"
    results, model = fit_judgements(
        judged["judgements"],
        spec.metrics,
        path,
        ctx.engine_options,
        folds=spec.folds,
        seed=ctx.experiment.seed,
        n_hypotheses=spec.hypotheses,
        residual_threshold=spec.threshold,
    )
    return {
        "model": str(path),
        "metrics": model.metrics,
        "coef": model.coef,
        "score_2afc": model.score_2afc,
        "ci": model.score_2afc_ci,
        "judgements": model.n_judgements,
        "subsets": results.to_dict("records"),
    }


# ------------------------------------------------------------------------------ training
def _train(ctx: LoopContext, first: StudyConfig, fit: dict, weights_dir, threads) -> dict:
    """The baseline and the metric-trained codec, fine-tuned alike from the base codec."""
    spec = ctx.experiment.train
    entry, weights = _base(spec.base)
    weight = spec.weight or _auto_weight(first, CombinationModel.load(fit["model"]), ctx.engine_options)
    data = _training_folder(ctx.experiment, ctx.out / "train-data")
    codecs = {}
    for variant in VARIANTS:
        name = f"{ctx.experiment.name}-{variant}"
        losses = dict(entry["train"]["losses"])
        if variant == "combined":
            share = spec.metric_share
            losses = {term: (1 - share) * w for term, w in losses.items() if share < 1}
            losses[f"{COMBINED_PREFIX}{fit['model']}"] = share * weight
        kept = {
            k: v
            for k, v in entry["train"].items()  # downscale: for the base's data only
            if k not in ("milestones", "init", "downscale")
        }
        train = {
            **kept,
            **spec.overrides,
            "losses": losses,
            "steps": spec.steps,
            "seed": ctx.experiment.seed,
            "validate_every": spec.steps,
            "validate_images": 1,
            "init": {"file": str(weights.file), "sha256": weights.sha256},
        }
        header = {k: entry[k] for k in ("architecture", "lambdas") if k in entry}
        text = tomli_w.dumps(
            {
                **header,
                "loss": variant,
                "source": f"evalkit loop: {variant} fine-tune of {spec.base}",
                "train": train,
            }
        )
        run, recipe_file = ctx.out / "train" / name, ctx.out / "train" / f"{name}.toml"
        if run.exists() and (not recipe_file.is_file() or recipe_file.read_text() != text):
            shutil.rmtree(run)  # another recipe's checkpoint must not be resumed
        recipe_file.parent.mkdir(parents=True, exist_ok=True)
        recipe_file.write_text(text)
        trainer = Trainer(
            load_recipe(recipe_file),
            data,
            run,
            device=ctx.engine_options["device"] or "auto",
            threads=threads,
            weights_dir=weights_dir,
            progress=ctx.progress,
        )
        trainer.run()
        trainer.export(ctx.out / "zoo")
        codecs[variant] = name
    return {"base": spec.base, "codecs": codecs, "weight": weight, "steps": spec.steps, "data": str(data)}


def _base(name: str):
    """The zoo file's table and the one checkpoint of the base codec."""
    spec = learned_zoo().get(name)
    if spec is None or spec.path is not None or list(spec.checkpoints) != [0]:
        raise InputError(
            f"train.base = {name!r} must be a learned zoo codec with one checkpoint "
            "and a [train] recipe (see `evalkit codecs`)"
        )
    entry = read_toml(_zoo_file(name), "learned-codec zoo file")
    weights = spec.checkpoints[0]
    if "train" not in entry or not Path(weights.file).is_file() or not weights.sha256:
        raise InputError(
            f"train.base = {name!r} needs its [train] recipe and its weights "
            f"({weights.file}, with their SHA-256 recorded) to fine-tune from"
        )
    return entry, weights


def _zoo_file(name: str) -> Path:
    return next(folder / f"{name}.toml" for folder in zoo_dirs() if (folder / f"{name}.toml").is_file())


def _auto_weight(first: StudyConfig, model: CombinationModel, engine_options: dict) -> float:
    """w that makes a bit buy as much of w·q as of 255²·MSE: the median over the first study's
    (image, codec) curves of −ΔMSE / Δq between their lowest and highest rate. A codec then
    trades rate against the blend as it traded it against MSE, and keeps its rate range."""
    manifest = first.out_dir / "compress" / "manifest.csv"
    metrics = list(dict.fromkeys(["psnr", *model.metrics]))
    pairs = (
        MetricEngine(metrics, **engine_options)
        .evaluate(read_pairs(manifest), root=manifest.parent, progress=False, sets=False)
        .pairs
    )
    pairs = pairs.assign(
        mse=255.0**2 * 10 ** (-pairs[metric("psnr").column] / 10),
        q=model.quality(pairs[model.columns].to_numpy(np.float64)),
    )
    ratios = []
    for _, curve in pairs.sort_values("bpp").groupby(["image", "codec"]):
        low, high = curve.iloc[0], curve.iloc[-1]
        if high["q"] != low["q"]:
            ratios.append(-(high["mse"] - low["mse"]) / (high["q"] - low["q"]))
    ratios = [r for r in ratios if r > 0]
    if not ratios:
        raise InputError(
            "the fitted metric does not grow with the rate on the first study's "
            "reconstructions; give train.weight by hand"
        )
    return float(np.median(ratios))


def _training_folder(experiment: Experiment, out: Path) -> Path:
    """train.data as ``evalkit train --data`` wants it: a folder with training subfolders and
    val/ as given, or an image set (``training-samples``, a folder of images…) written into
    ``out``, its last image held out for validation."""
    given = experiment.folder / experiment.train.data
    if given.is_dir() and any(p.is_dir() for p in given.iterdir()):
        return given
    images = resolve_images(experiment.train.data if not given.exists() else str(given))
    if len(images) < 2:
        raise InputError("train.data needs at least two images: one is held out for validation")
    for n, ref in enumerate(images):
        save_png(ref.load(), out / ("val" if n == len(images) - 1 else "train") / f"{ref.name}.png")
    return out


# -------------------------------------------------------------------------------- report
def _report(
    ctx: LoopContext, second: StudyConfig, fit: dict, trained: dict, judged: dict, judged2: dict
) -> dict:
    """The answer, bpp by bpp, from the second study's screened Thurstone scale."""
    codecs = trained["codecs"]
    truth_file = second.out_dir / "crowd_truth.json"
    truth = json.loads(truth_file.read_text()) if truth_file.is_file() else None
    pairs = shown_pairs(Design.load(second.trials_path)) if truth is not None else []
    rows = []
    for gap in judged2["gaps"]:
        if gap["method"] != "thurstone":
            continue
        sign = 1.0 if gap["better"] == codecs["combined"] else -1.0
        lo, hi = sorted((sign * gap["ci_low"], sign * gap["ci_high"]))
        row = {
            "bpp": gap["target_bpp"],
            "gap": sign * gap["gap"],
            "ci": [lo, hi],
            "p": gap["p_value"],
            "scores": {
                s["codec"]: [s["score"], s["ci_low"], s["ci_high"]]
                for s in judged2["ranking"]
                if s["method"] == "thurstone" and s["target_bpp"] == gap["target_bpp"]
            },
        }
        if truth is not None:
            row["truth"] = _true_gap(pairs, truth, codecs, gap["target_bpp"])
        row["verdict"] = (
            "the metric-trained codec is preferred"
            if lo > 0
            else "the MSE baseline is preferred"
            if hi < 0
            else "no difference shown at this precision"
        )
        rows.append(row)
    summary = {
        "question": QUESTION,
        "experiment": str(ctx.experiment.source),
        "fit": fit,
        "train": trained,
        "first_study": {k: judged[k] for k in ("raters", "excluded")},
        "second_study": {k: judged2[k] for k in ("raters", "excluded")},
        "simulated": truth is not None,
        "answer": rows,
    }
    summary_path = ctx.out / "answer.json"
    write_json(summary_path, summary)
    options = ReportOptions(
        anchor=codecs["mse"],
        study=second.folder,
        loop=summary_path,
        title=f"{ctx.experiment.name}: {QUESTION}",
    )
    report = write_report(second.out_dir / "compress", ctx.out / "report.html", options)
    return {**summary, "report": str(report)}


def _true_gap(pairs: list, truth: dict, codecs: dict, bpp: float) -> float:
    """The simulated crowd's latent JOD of the metric-trained codec minus the baseline's at
    ``bpp``, averaged over the study's shown ``pairs``."""
    gaps = {}
    for a, b, extra in pairs:
        if extra["target_bpp"] == bpp:
            paths = {a.codec: a.path, b.codec: b.path}
            gaps[extra["image"]] = truth[paths[codecs["combined"]]] - truth[paths[codecs["mse"]]]
    return float(np.mean(list(gaps.values())))
