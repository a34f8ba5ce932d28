"""The ``evalkit`` command: a thin layer over the library (``evalkit --help``).

Exit codes: 0 success, 1 the run finished but some images or codecs failed, 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

from . import __version__
from .errors import InputError

PRIMARY_CODECS = ("jpeg", "jpeg2000", "webp", "hevc", "bpg", "avif", "jpegxl")


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
    m.add_argument("--out", help="output table, .csv or .parquet (default: metrics.csv beside the manifest)")
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
    m.add_argument("--quiet", action="store_true", help="no progress bar")

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
    sv.add_argument("--admin-token", help="token for /admin (default: $EVALKIT_ADMIN_TOKEN, else random)")
    mt = ssub.add_parser("mturk", help="write the ExternalQuestion XML and HIT parameters")
    mt.add_argument("study", help="path to study.toml")
    mt.add_argument("--url", required=True, help="public https URL of the task page, e.g. https://host/task")
    mt.add_argument("--out", help="folder for external_question.xml and hit.json (default: the study's out/)")
    ex = ssub.add_parser("export", help="write judgements (for evalkit fit), raw responses and rater quality")
    ex.add_argument("study", help="path to study.toml")
    ex.add_argument("--database", help="SQLAlchemy URL (default: SQLite in the study's out/ folder)")
    ex.add_argument("--min-sentinel-accuracy", type=float, default=None,
                    help="leave out raters below this sentinel accuracy")
    return parser


def cmd_codecs(args) -> int:
    from .codecs import codec_table

    rows = codec_table(args.weights_dir)
    width = max(len(r.name) for r in rows)
    for r in rows:
        opts = " ".join(f"{k}={v}" for k, v in r.options.items())
        axis = f"{r.axis.name} {r.axis.lo:g}–{r.axis.hi:g}{' (integer)' if r.axis.integer else ''}"
        state = r.version if r.version else f"UNAVAILABLE: {r.unavailable}"
        print(f"{r.name:<{width}}  {axis:<26} {opts:<28} {state}")
    print("\nLearned ladders also answer to <name>-q<N> (one quality); any compatible checkpoint "
          "to <architecture>@<path>.")
    return 0


def cmd_compress(args) -> int:
    from .codecs import FAMILIES, zoo
    from .compress import compress
    from .datasets import resolve_images
    from .report.tables import summary_table

    if args.codecs is None:
        args.codecs = [n for n in PRIMARY_CODECS if not FAMILIES[zoo()[n]["family"]].unavailable_reason()]
    images = resolve_images(args.images, args.kodak_dir)
    result = compress(images, args.codecs, args.bpp, args.out, policy=args.policy,
                      rtol=args.tolerance, workers=args.workers, progress=not args.quiet,
                      device=args.device, weights_dir=args.weights_dir)
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
    from .metrics import MetricEngine, read_pairs, write_table
    from .report.tables import metrics_summary

    manifest = Path(args.manifest)
    out = Path(args.out) if args.out else manifest.with_name("metrics.csv")
    sets_out = out.with_name(f"{out.stem}_sets{out.suffix}")
    names, models = split_metric_names(args.metrics)
    engine = MetricEngine(names, device=args.device, weights_dir=args.weights_dir,
                          precision=args.precision, batch_size=args.batch_size,
                          cache=not args.no_cache, patch_size=args.fid_patch_size or None)
    result = engine.evaluate(read_pairs(manifest), root=manifest.parent, progress=not args.quiet)
    pairs = add_combined_columns(result.pairs, models)
    write_table(pairs, out)
    print(metrics_summary(pairs).to_string())
    print(f"\n{len(pairs)} pairs → {out}")
    if result.sets is not None:
        write_table(result.sets, sets_out)
        print(f"\n{result.sets.round(4).to_string(index=False)}\n\nset-level metrics → {sets_out}")
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


def cmd_fit(args) -> int:
    from pathlib import Path

    from .fit import compare_combinations, metric_values, read_judgements

    table = read_judgements(args.judgements)
    table = metric_values(table, args.metrics, root=Path(args.judgements).parent,
                          engine_options={"weights_dir": args.weights_dir, "device": args.device})
    results, models = compare_combinations(
        table, args.metrics, folds=args.folds, split_column=args.split_column, seed=args.seed,
        formulation=args.formulation, residual_threshold=args.threshold,
        n_hypotheses=args.hypotheses, standardize=args.standardize)
    split = f"split on {args.split_column}" if args.split_column else f"{args.folds}-fold"
    print(f"{len(table)} judgements, {args.formulation} formulation, held-out 2AFC ({split}, 95% CI):")
    shown = results.sort_values("2afc", ascending=False)
    if not args.standardize:
        shown = shown.drop(columns="weights_scaled")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    models[tuple(args.metrics)].save(args.out)
    print(f"\nmodel of {' + '.join(args.metrics)} → {args.out}")
    return 0


def cmd_study(args) -> int:
    from .study.config import load_config

    config = load_config(args.study)
    return {"build": _study_build, "serve": _study_serve, "mturk": _study_mturk,
            "export": _study_export}[args.study_command](args, config)


def _study_build(args, config):
    import warnings

    from .study.design import build_study
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        design = build_study(config, strict=args.strict, progress=not args.quiet)
    for w in caught:
        print(f"WARNING: {w.message}", file=sys.stderr)
    trials = [t for a in design.assignments for t in a]
    kinds = {k: sum(t.kind == k for t in trials) for k in ("pair", "sentinel", "repeat")}
    print(f"{config.name}: {len(design.assignments)} assignments, {len(trials)} trials "
          f"({kinds['pair']} comparisons, {kinds['sentinel']} sentinels, {kinds['repeat']} repeats), "
          f"{len(design.rejected)} pairs left out → {config.trials_path}")
    return 0


def _study_serve(args, config):
    from .study.design import Design
    from .study.database import connect, load_design
    url = args.database or f"sqlite:///{config.database_path}"
    load_design(connect(url), Design.load(config.trials_path))   # once, before the workers start
    token = args.admin_token or os.environ.get("EVALKIT_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    base = f"http://{args.host}:{args.port}"
    print(f"task page:   {base}/task?rater=ID  (MTurk and Prolific add their own parameters)\n"
          f"admin pages: {base}/admin/?token={token}", flush=True)
    env = {**os.environ, "EVALKIT_STUDY": str(config.folder / "study.toml"),
           "EVALKIT_DATABASE_URL": url, "EVALKIT_ADMIN_TOKEN": token}
    command = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--bind",
               f"{args.host}:{args.port}", "--access-logfile", "-", "webapp.wsgi:app"]
    os.execvpe(command[0], command, env)


def _study_mturk(args, config):
    from pathlib import Path

    from .study.design import Design
    from .study.mturk import external_question, hit_parameters
    out = Path(args.out) if args.out else config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    assignments = len(Design.load(config.trials_path).assignments)
    (out / "external_question.xml").write_text(external_question(args.url))
    (out / "hit.json").write_text(json.dumps(hit_parameters(config, assignments, args.url), indent=1))
    print(f"{out / 'external_question.xml'} and {out / 'hit.json'} ({assignments} assignments); "
          "create the HIT with boto3: mturk.create_hit(**json.load(open('hit.json')))")
    return 0


def _study_export(args, config):
    from .study import analysis
    from .study.database import connect
    engine = connect(args.database or f"sqlite:///{config.database_path}")
    files = {"judgements.csv": analysis.judgement_table(engine, min_sentinel_accuracy=args.min_sentinel_accuracy),
             "responses.csv": analysis.responses(engine), "quality.csv": analysis.rater_quality(engine)}
    for name, table in files.items():
        table.to_csv(config.out_dir / name, index=False)
        print(f"{len(table):6d} rows → {config.out_dir / name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user error (:class:`~evalkit.errors.InputError`) is one line on stderr
    and exit status 2; any other exception is a bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    commands = {"codecs": cmd_codecs, "compress": cmd_compress, "metrics": cmd_metrics,
                "fit": cmd_fit, "study": cmd_study, "train": cmd_train}
    try:
        return commands[args.command](args)
    except InputError as exc:
        command = " ".join(filter(None, [args.command, getattr(args, "study_command", None)]))
        print(f"evalkit {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
