"""The ``evalkit`` command: a thin layer over the library (``evalkit --help``).

Exit codes: 0 success, 1 the run finished but some images or codecs failed, 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import InputError

#: Our own small trained model (codecs/ek-variable-rate-mse.*), the learned codec that runs offline.
SHIPPED_MODEL = "ek-variable-rate-mse"
PRIMARY_CODECS = ("jpeg", "jpeg2000", "webp", "hevc-bpg", "bpg", "avif", "jpegxl", SHIPPED_MODEL)


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(not v > 0 or v == float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"bpp targets must be positive numbers, got {text!r}")
    return values


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _shard(text: str):
    from .shards import Shard
    try:
        return Shard.parse(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_cluster_options(p: argparse.ArgumentParser, unit: str) -> None:
    """--scheduler, --batch and --shard, shared by compress and metrics."""
    from .executors import DEFAULT_BATCH, SCHEDULER_ENV
    p.add_argument("--scheduler", help="run on a Dask cluster: its scheduler's address, e.g. "
                                       f"tcp://HOST:8786 (default: ${SCHEDULER_ENV}, else this machine; "
                                       "'local' for this machine)")
    p.add_argument("--batch", type=int, default=None,
                   help=f"Dask: {unit}s per Dask task (default: {DEFAULT_BATCH})")
    p.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                   help=f"do only the K-th of N shares of the {unit}s (job arrays: Slurm --array=1-N "
                        "with K=$SLURM_ARRAY_TASK_ID); join the N outputs with 'evalkit merge'")


def _metric_names(level: str | None = None) -> list[str]:
    from .metrics import METRICS
    return [name for name, m in METRICS.items() if level in (None, m.level)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalkit", description="Judge image codecs the way people see them.")
    parser.add_argument("--version", action="version", version=f"evalkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    cs = sub.add_parser("codecs", help="list every codec, whether it can run here, and its version")
    cs.add_argument("--weights-dir", help="folder with learned-codec checkpoints "
                                          "(default: $EVALKIT_WEIGHTS_DIR, then the torch hub cache)")

    c = sub.add_parser(
        "compress", help="reconstruct images with many codecs at matched bits per pixel",
        description="Encode every image with every codec at each target bpp (real bitstreams), "
                    "write reconstructions, bitstreams and manifest.csv, and print a summary.")
    c.add_argument("--images", default="samples",
                   help="'samples' (bundled photos), 'kodak', a folder, or one image (default: samples)")
    c.add_argument("--kodak-dir", help="folder with kodim01.png … kodim24.png "
                                       "(default: $EVALKIT_KODAK_DIR, else download into the cache)")
    c.add_argument("--codecs", type=_names, default=None,
                   help=f"comma-separated codec names (default: every available one of "
                        f"{','.join(PRIMARY_CODECS)}; see 'evalkit codecs')")
    c.add_argument("--bpp", type=_floats, default=[0.25, 0.5, 1.0],
                   help="comma-separated target bits per pixel (default: 0.25,0.5,1.0)")
    c.add_argument("--policy", choices=("closest", "not-above"), default="closest",
                   help="closest: nearest achievable rate; not-above: highest rate not above target")
    c.add_argument("--tolerance", type=float, default=0.01,
                   help="relative bpp error at which the search stops (default: 0.01)")
    c.add_argument("--out", default="runs/samples", help="output folder (default: runs/samples)")
    c.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    c.add_argument("--device", default="auto",
                   help="learned codecs: auto (cuda when present), cpu, cuda, cuda:1 … (default: auto)")
    c.add_argument("--weights-dir", help="learned codecs: folder with checkpoints "
                                         "(default: $EVALKIT_WEIGHTS_DIR, then the torch hub cache)")
    _add_cluster_options(c, "(image, codec) job")
    c.add_argument("--quiet", action="store_true", help="no progress bar")

    m = sub.add_parser(
        "metrics", help="measure reconstructions: PSNR, MS-SSIM, LPIPS, FID/KID",
        description="Add metric columns to a manifest (or any CSV/Parquet with reference and "
                    "reconstruction columns); FID/KID go to a second table, one row per "
                    "(codec, target_bpp).")
    m.add_argument("--manifest", required=True, help="manifest.csv from 'evalkit compress', or a pairs table")
    m.add_argument("--metrics", type=_names, default=["psnr", "ms-ssim", "lpips"],
                   help=f"comma-separated: {', '.join(_metric_names())}, or combined:MODEL.json "
                        "from 'evalkit fit' (default: psnr,ms-ssim,lpips)")
    m.add_argument("--out", help="output table, .csv or .parquet (default: metrics.csv beside the "
                                 "manifest; with --shard K/N, metrics-shard-K-of-N.csv)")
    m.add_argument("--weights-dir", help="folder with local network weights "
                                         "(default: $EVALKIT_WEIGHTS_DIR, then the torch hub cache)")
    m.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when present)")
    m.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32",
                   help="precision of the LPIPS and Inception networks (statistics stay float64)")
    m.add_argument("--batch-size", type=int, default=None,
                   help="images per network batch (default: 8 on CUDA, 1 on a CPU)")
    m.add_argument("--fid-patch-size", type=int, default=256,
                   help="side of the patches for patch FID/KID; 0 for whole images only (default: 256)")
    m.add_argument("--no-cache", action="store_true", help="recompute everything")
    _add_cluster_options(m, "reference")
    m.add_argument("--quiet", action="store_true", help="no progress bar")

    mg = sub.add_parser(
        "merge", help="join the outputs of shards (--shard K/N) into one run folder",
        description="Join run folders of 'evalkit compress' (with their metrics.csv, if measured) "
                    "and metrics tables of 'evalkit metrics --shard' into one run folder: files "
                    "linked or copied, manifests and metrics tables joined, FID/KID computed "
                    "from the joined features (never averaged over shards). Refuses incomplete, "
                    "repeated or mismatched shards.")
    mg.add_argument("runs", nargs="+", metavar="RUN",
                    help="run folders and/or metrics tables (metrics-shard-K-of-N.csv)")
    mg.add_argument("--out", required=True, help="the joined run folder")

    f = sub.add_parser(
        "fit", help="fit a combined metric to human 2AFC judgements (RANSAC over SVD least squares)",
        description="Fit every subset of the chosen metrics to a judgement table, print each "
                    "one's weights and held-out 2AFC score with a 95%% CI, and save the "
                    "combination of all chosen metrics.")
    f.add_argument("--judgements", required=True,
                   help="CSV/Parquet with reference, a, b, n_a, n_b (and optional <metric>_a/_b)")
    f.add_argument("--metrics", type=_names, default=["psnr", "ms-ssim", "lpips"],
                   help=f"comma-separated metrics to combine, of {', '.join(_metric_names('pair'))} "
                        "(default: psnr,ms-ssim,lpips)")
    f.add_argument("--out", default="combined.json", help="model file to write (default: combined.json)")
    f.add_argument("--formulation", choices=("pairwise", "per-sample"), default="pairwise",
                   help="pairwise: d·(m(A)−m(B)) = p_A−½ (default); per-sample: d·m = b (the paper's)")
    f.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    f.add_argument("--split-column", help="use this column's train/test values instead of folds")
    f.add_argument("--threshold", type=float, default=None,
                   help="RANSAC inlier threshold (default: median absolute deviation of the targets)")
    f.add_argument("--hypotheses", type=int, default=1000, help="RANSAC hypotheses (default: 1000)")
    f.add_argument("--standardize", action="store_true", help="fit on metrics divided by their std")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--weights-dir", help="local network weights for metrics computed here")
    f.add_argument("--device", help="device for metrics computed here")

    r = sub.add_parser(
        "report", help="an HTML comparison report of a run: tables, RD curves, BD-rate, visual comparisons",
        description="Write one self-contained HTML page (figures, crops and CSV tables in "
                    "<name>_files/ beside it) from a run folder of 'evalkit compress' and "
                    "'evalkit metrics', optionally with a study's results.")
    r.add_argument("run", help="run folder (holds metrics.csv or manifest.csv, and metrics_sets.csv)")
    r.add_argument("--out", help="HTML file to write (default: report.html in the run folder)")
    r.add_argument("--anchor", help="codec the BD-rate/BD-metric refer to (default: jpeg, else the first)")
    r.add_argument("--interpolation", choices=("pchip", "cubic"), default="pchip",
                   help="Bjøntegaard interpolation: piecewise cubic Hermite (default) or the "
                        "original cubic polynomial")
    r.add_argument("--min-overlap", type=float, default=None,
                   help="refuse a BD value when the curves share less than this fraction of "
                        "their range (default: 0.25)")
    r.add_argument("--images", type=_names, default=None,
                   help="images for the visual comparison (default: the first two)")
    r.add_argument("--visual-bpp", type=float, default=None,
                   help="target bpp of the visual comparison (default: the lowest)")
    r.add_argument("--region", default=None,
                   help="x,y,width,height of the magnified box (default: where the codecs differ most)")
    r.add_argument("--study", help="a study.toml (or its out/ folder) whose results to add")
    r.add_argument("--title", help="page title")

    d = sub.add_parser(
        "demo", help="the whole chain on the bundled photos: compress, measure, write the report",
        description="Compress the bundled sample photos with every available codec at 0.25, 0.5, "
                    "0.75 and 1.0 bpp, compute PSNR, MS-SSIM, LPIPS and FID/KID (those whose "
                    "weights are found), and write the HTML report. Offline, a few minutes on a CPU.")
    d.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    d.add_argument("--codecs", type=_names, default=None,
                   help="comma-separated codec names (default: every available one)")
    d.add_argument("--weights-dir", help="folder with LPIPS/Inception weights (default: $EVALKIT_WEIGHTS_DIR)")
    d.add_argument("--device", help="cpu, cuda … (default: cuda when present)")
    d.add_argument("--workers", type=int, default=None, help="compression processes (default: all cores)")
    d.add_argument("--bpp", type=_floats, default=None,
                   help="comma-separated target bpps (default: 0.25,0.5,0.75,1.0; BD-rate needs 4)")
    d.add_argument("--study", action="store_true",
                   help="also build the example study (a copy under OUT/study), serve it on a free "
                        "127.0.0.1 port, send it a simulated crowd, analyse it, fit a combined "
                        "metric and add the study sections to the report")
    d.add_argument("--quiet", action="store_true", help="no progress bars")

    lp = sub.add_parser(
        "loop", help="study → fitted metric → codec trained on it → second study, in one command",
        description="Run the closed loop an experiment file describes (see studies/loop-demo/"
                    "experiment.toml): a study of existing codecs, a combined metric fitted on its "
                    "screened judgements, a codec fine-tuned on that metric beside an MSE "
                    "baseline, a second study of the two, and a report answering whether people "
                    "prefer the metric-trained codec. Each stage is cached in out/loop.json beside "
                    "the experiment file; run the command again to resume. With real raters (no "
                    "[crowd] table) it stops (exit status 3) where a study needs them.")
    lp.add_argument("experiment", help="EXPERIMENT.toml")
    lp.add_argument("--continue", dest="resume", action="store_true",
                    help="go on with the answers the study has now (real raters)")
    lp.add_argument("--device", default=None, help="auto, cpu or cuda[:N] (default: auto)")
    lp.add_argument("--threads", type=int, help="CPU threads for training (default: all cores)")
    lp.add_argument("--weights-dir", help="LPIPS weights, for metrics that need them "
                                          "(default: $EVALKIT_WEIGHTS_DIR)")
    lp.add_argument("--quiet", action="store_true", help="no progress bars")

    t = sub.add_parser(
        "train", help="train a learned codec from a recipe in codecs/",
        description="Train the codec a recipe (codecs/<name>.toml, [train] table) describes on "
                    "random crops of DIR's subfolders except val/, validating on val/ with real "
                    "bitstreams. Run the same command again to resume; under torchrun each "
                    "process takes a slice of every batch. Writes the run to --out and the zoo "
                    "entry to --zoo, so `evalkit compress --codecs <name>` uses the model at once.")
    t.add_argument("--recipe", required=True, help="codecs/<name>.toml with a [train] table")
    t.add_argument("--data", required=True, help="image folder: training subfolders and val/")
    t.add_argument("--out", required=True, help="run folder (checkpoint, logs, model)")
    t.add_argument("--zoo", help="where the trained zoo entry goes (default: the recipe's folder)")
    t.add_argument("--steps", type=int, help="stop at this step instead of the recipe's")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    t.add_argument("--threads", type=int, help="CPU threads (default: the cores, split over processes)")
    t.add_argument("--weights-dir", help="LPIPS weights for losses and validation "
                                         "(default: $EVALKIT_WEIGHTS_DIR)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    st = sub.add_parser("study", help="human 2AFC studies: build, serve, MTurk, export",
                        description="Run a 2AFC study defined in studies/<name>/study.toml.")
    ssub = st.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    b = ssub.add_parser("build", help="compress the images and write the trial set")
    b.add_argument("study", help="path to study.toml")
    b.add_argument("--strict", action="store_true",
                   help="fail (instead of leaving pairs out) when two sides are not at matched bpp")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    sv = ssub.add_parser("serve", help="serve the task page and admin pages with gunicorn")
    sv.add_argument("study", help="path to study.toml")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default: 4)")
    sv.add_argument("--database", help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db "
                                       "(default: SQLite in the study's out/ folder)")
    sv.add_argument("--admin-token", help="token for /admin/login (default: $EVALKIT_ADMIN_TOKEN, else a "
                                          "random one written to out/admin-token, never printed)")
    mt = ssub.add_parser("mturk", help="write the ExternalQuestion XML and HIT parameters")
    mt.add_argument("study", help="path to study.toml")
    mt.add_argument("--url", required=True, help="public https URL of the task page, e.g. https://host/task")
    mt.add_argument("--out", help="folder for external_question.xml and hit.json (default: the study's out/)")
    ex = ssub.add_parser("export", help="write judgements (for evalkit fit), raw responses, rater quality "
                                        "and assignments (leases, completion codes)")
    ex.add_argument("study", help="path to study.toml")
    ex.add_argument("--database", help="SQLAlchemy URL (default: SQLite in the study's out/ folder)")
    ex.add_argument("--min-sentinel-accuracy", type=float, default=None,
                    help="leave out raters below this sentinel accuracy")
    ex.add_argument("--min-median-server-s", type=float, default=None,
                    help="leave out raters whose median answer time, as the server measured it, is below this")
    an = ssub.add_parser("analyze", help="rank the codecs, screen raters, agreement ceiling, plots",
                         description="Analyse a study's stored responses: rater screening (every exclusion "
                                     "with its reason), preference per pair and bpp, Thurstone (JOD) and "
                                     "Bradley–Terry rankings with bootstrap CIs over raters and images, "
                                     "rater agreement and the ceiling it puts on metrics' 2AFC scores — "
                                     "all with and without the excluded raters. Tables, plots (PNG, SVG) "
                                     "and judgements.csv (for evalkit fit) go to out/analysis/.")
    an.add_argument("study", help="path to study.toml")
    an.add_argument("--database", help="SQLAlchemy URL (default: SQLite in the study's out/ folder)")
    an.add_argument("--out", help="output folder (default: the study's out/analysis)")
    an.add_argument("--min-sentinel-accuracy", type=float, default=0.8, help="exclude raters below (default 0.8)")
    an.add_argument("--min-repeat-consistency", type=float, default=None,
                    help="exclude raters below this repeat consistency (default: off)")
    an.add_argument("--fast-answer-s", type=float, default=0.6, help="an answer faster than this is implausible (default 0.6)")
    an.add_argument("--max-fast-share", type=float, default=0.25,
                    help="exclude raters with a larger share of implausibly fast answers (default 0.25)")
    an.add_argument("--no-screening", action="store_true", help="exclude nobody")
    an.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (default 1000)")
    an.add_argument("--metrics", type=_names, default=["psnr"],
                    help="metrics scored beside the agreement ceiling, e.g. psnr,ms-ssim,lpips (default psnr; 'none' for none)")
    an.add_argument("--model", help="a fitted combination (evalkit fit --out) to score beside them")
    an.add_argument("--weights-dir", help="local network weights for LPIPS")
    an.add_argument("--seed", type=int, default=0)
    an.add_argument("--quiet", action="store_true", help="no progress bar")
    sm = ssub.add_parser("simulate", help="send a simulated crowd to a running study server",
                         description="Simulated raters over HTTP, making the task page's requests: each has a "
                                     "latent quality per codec plus noise; some are careless, some fail "
                                     "sentinels, some abandon halfway. For demos, tests and load tests.")
    sm.add_argument("study", help="path to study.toml (its trials.json tells the crowd which codec is where)")
    sm.add_argument("--url", required=True, help="base URL of the running server, e.g. http://127.0.0.1:8000")
    sm.add_argument("--raters", type=int, help="how many raters (default: one per assignment; an active "
                                               "study: enough for its stop_when.judgements)")
    sm.add_argument("--database", help="SQLAlchemy URL of the served study's database, where an active "
                                       "study's trials are (default: SQLite in the study's out/ folder)")
    sm.add_argument("--quality", help="latent JOD per codec, e.g. jpeg=0,webp=0.8 (default: the study's "
                                      "codecs 0.7 JOD apart, in the order of study.toml)")
    sm.add_argument("--careless", type=float, default=0.1, help="share of careless raters (default 0.1)")
    sm.add_argument("--inverted", type=float, default=0.05,
                    help="share of raters who misread the task and fail sentinels (default 0.05)")
    sm.add_argument("--abandons", type=float, default=0.1, help="share who stop halfway (default 0.1)")
    sm.add_argument("--concurrency", type=int, default=4, help="raters working at once (default 4)")
    sm.add_argument("--time-scale", type=float, default=0.0,
                    help="wait this fraction of each simulated response time (default 0: answer at once)")
    sm.add_argument("--no-images", action="store_true", help="do not download the trial images")
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def cmd_codecs(args) -> int:
    from .codecs import codec_table

    rows = codec_table(args.weights_dir)
    width = max(len(r.name) for r in rows)
    axes = [f"{r.axis.name} {r.axis.lo:g}–{r.axis.hi:g}{' (integer)' if r.axis.integer else ''}" for r in rows]
    for r, axis in zip(rows, axes):
        opts = " ".join(f"{k}={v}" for k, v in r.options.items())
        state = r.version if r.version else f"UNAVAILABLE: {r.unavailable}"
        print(f"{r.name:<{width}}  {axis:<{max(map(len, axes))}} {opts:<28} {state}")
    print("\nLearned ladders also answer to <name>-q<N> (one quality); any compatible checkpoint "
          "to <architecture>@<path>.")
    return 0


@contextmanager
def _executor(args, local_workers):
    """The executor ``--scheduler`` asks for, closed when the command ends."""
    from .executors import executor_for
    executor = executor_for(args.scheduler, local_workers, args.batch)
    try:
        yield executor
    finally:
        executor.close()


def available_codecs() -> list[str]:
    """The primary codecs that can run on this machine (the shipped model when its file is there)."""
    from .codecs import FAMILIES, get_codec, zoo

    classical = [n for n in PRIMARY_CODECS if n in zoo() and not FAMILIES[zoo()[n]["family"]].unavailable_reason()]
    return classical + ([SHIPPED_MODEL] if get_codec(SHIPPED_MODEL, device="cpu").unavailable_here() is None else [])


def cmd_compress(args) -> int:
    from .compress import compress
    from .datasets import resolve_images
    from .report.tables import summary_table

    if args.codecs is None:
        args.codecs = available_codecs()
    images = resolve_images(args.images, args.kodak_dir)
    with _executor(args, args.workers) as executor:
        result = compress(images, args.codecs, args.bpp, args.out, policy=args.policy,
                          rtol=args.tolerance, progress=not args.quiet, device=args.device,
                          weights_dir=args.weights_dir, executor=executor, shard=args.shard)
    for note in result.warnings:
        print(f"warning: {note}", file=sys.stderr)
    if len(result.manifest):
        print(summary_table(result.manifest).to_string())
    print(f"\n{len(result.manifest)} reconstructions, {result.fresh_encodes} new encodes; "
          f"manifest: {args.out}/manifest.csv")
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if result.errors else 0


def cmd_metrics(args) -> int:
    from pathlib import Path

    from .fit import add_combined_columns, split_metric_names
    from .merge import features_path, record_path
    from .metrics import MetricEngine, read_pairs, write_table
    from .report.tables import metrics_summary
    from .shards import plan_hash, write_record

    manifest = Path(args.manifest)
    default = f"metrics-{args.shard.label}.csv" if args.shard else "metrics.csv"
    out = Path(args.out) if args.out else manifest.with_name(default)
    sets_out = out.with_name(f"{out.stem}_sets{out.suffix}")
    names, models = split_metric_names(args.metrics)
    engine = MetricEngine(names, device=args.device, weights_dir=args.weights_dir,
                          precision=args.precision, batch_size=args.batch_size,
                          cache=not args.no_cache, patch_size=args.fid_patch_size or None)
    table = read_pairs(manifest)
    if args.shard:
        references = list(dict.fromkeys(table["reference"]))
        table = table[table["reference"].isin(args.shard.take(references))].reset_index(drop=True)
        plan = plan_hash([references, list(engine.options.metrics), engine.patch_size, engine.precision])
        write_record(record_path(out), "metrics", args.shard, plan, root=str(manifest.parent.resolve()))
    with _executor(args, 1) as executor:
        result = engine.evaluate(table, root=manifest.parent, progress=not args.quiet,
                                 executor=executor,
                                 sets=args.shard is None)
    pairs = add_combined_columns(result.pairs, models)
    write_table(pairs, out)
    print(metrics_summary(pairs).to_string())
    print(f"\n{len(pairs)} pairs → {out}")
    if result.features is not None:
        result.features.save(features_path(out))
    if result.sets is not None:
        write_table(result.sets, sets_out)
        print(f"\n{result.sets.round(4).to_string(index=False)}\n\nset-level metrics → {sets_out}")
    elif result.features is not None:
        print(f"FID/KID of shard {args.shard}: computed by 'evalkit merge' from the features of "
              f"all shards ({features_path(out)})")
    return 0


def cmd_merge(args) -> int:
    from .merge import merge_runs

    result = merge_runs(args.runs, args.out)
    if result.manifest is not None:
        print(f"{len(result.manifest)} manifest rows, {result.files} files → {args.out}/manifest.csv")
    if result.pairs is not None:
        print(f"{len(result.pairs)} measured pairs → {args.out}/metrics.csv")
    if result.sets is not None:
        print(f"\n{result.sets.round(4).to_string(index=False)}\n\n"
              f"set-level metrics of the joined features → {args.out}/metrics_sets.csv")
    return 0


def cmd_train(args) -> int:
    from .train.recipe import load_recipe
    from .train.trainer import Trainer

    recipe = load_recipe(args.recipe)   # checked whole before anything starts
    trainer = Trainer(recipe, args.data, args.out, device=args.device, threads=args.threads,
                      weights_dir=args.weights_dir, progress=not args.quiet)
    try:
        trainer.run(args.steps)
    except KeyboardInterrupt:
        return 130
    if trainer.rank == 0:
        entry = trainer.export(Path(args.zoo) if args.zoo else Path(args.recipe).parent)
        print(f"model {trainer.out / (recipe.name + '.pth')}, zoo entry {entry}; logs "
              f"{trainer.out}/train.csv, validation.csv, tensorboard/")
    return 0


def cmd_loop(args) -> int:
    from .loop import WaitingForPeople, load_experiment, run_loop

    experiment = load_experiment(args.experiment)   # checked whole before anything starts
    try:
        summary = run_loop(experiment, resume=args.resume, weights_dir=args.weights_dir,
                           device=args.device, threads=args.threads, progress=not args.quiet)
    except WaitingForPeople as waiting:
        print(f"evalkit loop: waiting for people: {waiting}", file=sys.stderr)
        return 3
    print(f"\n{summary['question']}")
    for row in summary["answer"]:
        truth = f"; the crowd's truth {row['truth']:+.2f}" if "truth" in row else ""
        print(f"  {row['bpp']:g} bpp: {row['verdict']} (gap {row['gap']:+.2f} JOD "
              f"[{row['ci'][0]:+.2f}, {row['ci'][1]:+.2f}], p = {row['p']:.3f}{truth})")
    fit = summary["fit"]
    print(f"fitted metric: held-out 2AFC {fit['score_2afc']:.3f} [{fit['ci'][0]:.3f}, "
          f"{fit['ci'][1]:.3f}] on {fit['judgements']} judgements")
    print(f"report: {Path(summary['report']).resolve()}")
    return 0


def cmd_fit(args) -> int:
    from .fit import fit_judgements, scores_path

    shown, model = fit_judgements(
        args.judgements, args.metrics, args.out,
        engine_options={"weights_dir": args.weights_dir, "device": args.device}, folds=args.folds,
        split_column=args.split_column, seed=args.seed, formulation=args.formulation,
        residual_threshold=args.threshold, n_hypotheses=args.hypotheses,
        standardize=args.standardize)
    split = f"split on {args.split_column}" if args.split_column else f"{args.folds}-fold"
    print(f"{model.n_judgements} judgements, {args.formulation} formulation, held-out 2AFC "
          f"({split}, 95% CI):")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"\nmodel of {' + '.join(args.metrics)} → {args.out}; held-out 2AFC per combination → "
          f"{scores_path(args.out)}")
    return 0


def cmd_report(args) -> int:
    from pathlib import Path

    from .report.build import ReportOptions, write_report
    from .report.visual import Region

    overlap = {} if args.min_overlap is None else {"min_overlap": args.min_overlap}
    options = ReportOptions(
        anchor=args.anchor, interpolation=args.interpolation, **overlap,
        visual_images=args.images, visual_bpp=args.visual_bpp,
        region=Region.parse(args.region) if args.region else None,
        study=Path(args.study) if args.study else None, title=args.title)
    out = write_report(args.run, args.out or Path(args.run) / "report.html", options)
    print(f"report: {out.resolve()}  (open it in a browser; figures and tables in {out.stem}_files/)")
    return 0


def cmd_demo(args) -> int:
    import time

    from .demo import DEMO_BPP, run_demo
    from .report.tables import default_anchor

    start = time.perf_counter()
    result = run_demo(args.codecs or available_codecs(), args.out, targets=args.bpp or DEMO_BPP,
                      weights_dir=args.weights_dir, device=args.device, workers=args.workers,
                      study=args.study, progress=not args.quiet)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"\n{_summary_text(result.summary, default_anchor(result.summary.index))}")
    print(f"\nreport: {result.report.resolve()}  ({time.perf_counter() - start:.1f} s; open it in a browser)")
    return 1 if result.errors else 0


def _summary_text(summary, anchor: str) -> str:
    """The demo's closing table: BD-rates against ``anchor`` and flagged points per codec."""
    from .report.figures import label

    rates = [c for c in summary.columns if c.startswith("bd_rate_")]
    table = summary[rates].map(lambda v: "–" if v != v else f"{v:+.1f}")
    table.columns = [label(c.removeprefix("bd_rate_")).split(" (")[0] for c in rates]
    table["flagged"] = [f"{f} of {n}" for f, n in zip(summary["flagged"], summary["points"])]
    return (f"BD-rate against {anchor} (% of its bits at equal quality; negative saves bits; – "
            f"cannot be computed, see the report) and reconstructions off target (flagged):\n"
            f"{table.to_string()}")


def _database_url(args, config) -> str:
    """The study database: ``--database``, else SQLite in the study's out/ folder."""
    from .study.config import database_url
    return database_url(config, args.database)


def cmd_study(args) -> int:
    from .study.config import load_config

    config = load_config(args.study)
    return {"build": _study_build, "serve": _study_serve, "mturk": _study_mturk,
            "export": _study_export, "analyze": _study_analyze,
            "simulate": _study_simulate}[args.study_command](args, config)


def _study_build(args, config):
    import warnings

    from .study.design import build_study
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        design = build_study(config, strict=args.strict, progress=not args.quiet)
    for w in caught:
        print(f"WARNING: {w.message}", file=sys.stderr)
    if design.active:
        print(f"{config.name}: active sampling over {len(design.pairs)} pairs at matched bpp (each assignment "
              f"planned when it is claimed; stop when {config.stop_when}), {len(design.rejected)} pairs left "
              f"out → {config.trials_path}")
        return 0
    trials = [t for a in design.assignments for t in a]
    kinds = {k: sum(t.kind == k for t in trials) for k in ("pair", "sentinel", "repeat")}
    print(f"{config.name}: {len(design.assignments)} assignments, {len(trials)} trials "
          f"({kinds['pair']} comparisons, {kinds['sentinel']} sentinels, {kinds['repeat']} repeats), "
          f"{len(design.rejected)} pairs left out → {config.trials_path}")
    return 0


def _study_serve(args, config):
    from .study.design import Design
    from .study.database import connect, load_design
    from .study.server import gunicorn_command
    url = _database_url(args, config)
    load_design(connect(url), Design.load(config.trials_path))   # once, before the workers start
    token = args.admin_token or os.environ.get("EVALKIT_ADMIN_TOKEN")
    where = "the token you gave"
    if not token:      # never printed: terminals and logs are kept; the file is the owner's alone
        token = secrets.token_urlsafe(24)
        token_file = config.out_dir / "admin-token"
        token_file.touch(mode=0o600)
        token_file.write_text(token + "\n")
        where = f"the token in {token_file}"
    base = f"http://{args.host}:{args.port}"
    print(f"task page:   {base}/task?rater=ID  (MTurk and Prolific add their own parameters)\n"
          f"admin pages: {base}/admin/login  (log in with {where})", flush=True)
    env = {**os.environ, "EVALKIT_STUDY": str(config.folder / "study.toml"),
           "EVALKIT_DATABASE_URL": url, "EVALKIT_ADMIN_TOKEN": token}
    command = gunicorn_command(f"{args.host}:{args.port}", args.workers, access_log=True)
    os.execvpe(command[0], command, env)


def _study_mturk(args, config):
    from pathlib import Path

    from .study.design import Design
    from .study.mturk import external_question, hit_parameters
    out = Path(args.out) if args.out else config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    design = Design.load(config.trials_path)
    assignments = len(design.assignments)
    if design.active:      # one MTurk assignment per study assignment the budget needs
        if "judgements" not in config.stop_when:
            raise InputError("an active study needs stop_when.judgements to size its HIT (MaxAssignments)")
        assignments = -(-config.stop_when["judgements"] // config.trials_per_assignment)
    (out / "external_question.xml").write_text(external_question(args.url))
    (out / "hit.json").write_text(json.dumps(hit_parameters(config, assignments, args.url), indent=1))
    print(f"{out / 'external_question.xml'} and {out / 'hit.json'} ({assignments} assignments); "
          "create the HIT with boto3: mturk.create_hit(**json.load(open('hit.json')))")
    return 0


def _study_export(args, config):
    from .study import analysis
    from .study.database import connect
    engine = connect(_database_url(args, config))
    files = {"judgements.csv": analysis.judgement_table(engine, min_sentinel_accuracy=args.min_sentinel_accuracy,
                                                        min_median_server_s=args.min_median_server_s),
             "responses.csv": analysis.responses(engine), "quality.csv": analysis.rater_quality(engine),
             "assignments.csv": analysis.progress(engine, config.judgements_per_pair)[1]}
    for name, table in files.items():
        table.to_csv(config.out_dir / name, index=False)
        print(f"{len(table):6d} rows → {config.out_dir / name}")
    return 0


def _study_analyze(args, config):
    from pathlib import Path

    from .fit.model import CombinationModel
    from .study.analysis import responses
    from .study.database import connect
    from .study.report import analyze, format_report, write_analysis
    from .study.screening import ScreeningRules

    rules = (ScreeningRules(None, None, args.fast_answer_s, None) if args.no_screening else
             ScreeningRules(args.min_sentinel_accuracy, args.min_repeat_consistency, args.fast_answer_s,
                            args.max_fast_share))
    metrics = [] if args.metrics == ["none"] else args.metrics
    model = CombinationModel.load(args.model) if args.model else None
    result = analyze(responses(connect(_database_url(args, config))), rules,
                     codecs=config.codecs, n_boot=args.bootstrap, seed=args.seed, metrics=metrics, model=model,
                     root=config.out_dir, engine_options={"weights_dir": args.weights_dir},
                     progress=not args.quiet)
    print(format_report(result))
    out = Path(args.out) if args.out else config.out_dir / "analysis"
    written = write_analysis(result, out)
    print(f"\n{len(written)} files → {out} (judgements.csv there is what 'evalkit fit' reads)")
    return 0


def _study_simulate(args, config):
    import requests

    from .study.crowd import Crowd, CrowdModel
    from .study.database import connect
    from .study.design import Design
    from .study.simulate import simulate_crowd, write_rater_kinds

    design = Design.load(config.trials_path)
    if args.quality:
        try:
            quality = {k.strip(): float(v) for k, v in (item.split("=") for item in args.quality.split(","))}
        except ValueError:
            raise InputError(f"--quality {args.quality!r}: write codec=JOD pairs, e.g. jpeg=0,webp=0.8") from None
        missing = sorted(set(config.codecs) - set(quality))
        if missing:
            raise InputError(f"--quality gives no value for {', '.join(missing)}")
    else:
        quality = {codec: 0.7 * n for n, codec in enumerate(config.codecs)}
    crowd = Crowd(CrowdModel(quality, careless=args.careless, inverted=args.inverted, abandons=args.abandons,
                             seed=args.seed))
    raters = args.raters or len(design.assignments)
    if design.active and not args.raters:
        if "judgements" not in config.stop_when:
            raise InputError("an active study without stop_when.judgements: say how many raters with --raters")
        # Twice what the budget needs: screened-out raters' answers do not count, and once the
        # study is complete the rest are turned away.
        raters = 2 * -(-config.stop_when["judgements"] // config.trials_per_assignment)
    try:
        summary = simulate_crowd(design, args.url, crowd, raters, concurrency=args.concurrency,
                                 load_images=not args.no_images, time_scale=args.time_scale,
                                 progress=not args.quiet,
                                 engine=connect(_database_url(args, config)) if design.active else None)
    except requests.ConnectionError:
        raise InputError(f"cannot reach {args.url}: is the study served there ('evalkit study serve')?") from None
    print(summary.describe())
    print(f"each simulated rater's kind → {write_rater_kinds(summary, config)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user error (:class:`~evalkit.errors.InputError`) is one line on stderr
    and exit status 2; any other exception is a bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    commands = {"codecs": cmd_codecs, "compress": cmd_compress, "metrics": cmd_metrics,
                "merge": cmd_merge, "fit": cmd_fit, "loop": cmd_loop, "report": cmd_report, "demo": cmd_demo, "study": cmd_study,
                "train": cmd_train}
    try:
        return commands[args.command](args)
    except InputError as exc:
        command = " ".join(filter(None, [args.command, getattr(args, "study_command", None)]))
        print(f"evalkit {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
