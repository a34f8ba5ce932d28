"""``evalkit metrics``: metric columns added to a manifest; FID/KID in a second table."""

from __future__ import annotations

import argparse

from .options import add_cluster_options, cluster_executor, default_metrics, metric_names, name_list


def add_parser(sub) -> argparse.ArgumentParser:
    m = sub.add_parser(
        "metrics",
        help="measure reconstructions with the registry's metrics (PSNR, MS-SSIM, LPIPS, FID, …)",
        description="Add metric columns to a manifest (or any CSV/Parquet with reference and "
        "reconstruction columns); FID/KID go to a second table, one row per "
        "(codec, target_bpp).",
    )
    m.add_argument("--manifest", required=True, help="manifest.csv from 'evalkit compress', or a pairs table")
    m.add_argument(
        "--metrics",
        type=name_list,
        default=default_metrics(),
        help=f"comma-separated: {', '.join(metric_names())}, or combined:MODEL.json "
        "from 'evalkit fit' (default: " + ",".join(default_metrics()) + ")",
    )
    m.add_argument(
        "--out",
        help="output table, .csv or .parquet (default: metrics.csv beside the "
        "manifest; with --shard K/N, metrics-shard-K-of-N.csv)",
    )
    m.add_argument(
        "--weights-dir",
        help="folder with local network weights (default: $EVALKIT_WEIGHTS_DIR, then the torch hub cache)",
    )
    m.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when present)")
    m.add_argument(
        "--precision",
        choices=("fp32", "fp16", "bf16"),
        default="fp32",
        help="precision of the LPIPS and Inception networks (statistics stay float64)",
    )
    m.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="images per network batch (default: 8 on CUDA, 1 on a CPU)",
    )
    m.add_argument(
        "--fid-patch-size",
        type=int,
        default=256,
        help="side of the patches for patch FID/KID; 0 for whole images only (default: 256)",
    )
    m.add_argument("--no-cache", action="store_true", help="recompute everything")
    add_cluster_options(m, "reference")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    return m


def run(args) -> int:
    from pathlib import Path

    from ..compress import MANIFEST_COLUMNS, read_manifest
    from ..merge import features_path, record_path
    from ..metrics import METRICS, MetricEngine, read_pairs, write_table
    from ..report.tables import metrics_summary
    from ..shards import plan_hash, write_record

    manifest = Path(args.manifest)
    default = f"metrics-{args.shard.label}.csv" if args.shard else "metrics.csv"
    out = Path(args.out) if args.out else manifest.with_name(default)
    sets_out = out.with_name(f"{out.stem}_sets{out.suffix}")
    names, models = args.metrics, {}
    if any(name not in METRICS for name in names):  # combined:MODEL.json (fit imports scikit-learn)
        from ..fit import split_metric_names

        names, models = split_metric_names(names)
    engine = MetricEngine(
        names,
        device=args.device,
        weights_dir=args.weights_dir,
        precision=args.precision,
        batch_size=args.batch_size,
        cache=not args.no_cache,
        patch_size=args.fid_patch_size or None,
    )
    table = read_pairs(manifest)
    if set(MANIFEST_COLUMNS) <= set(table.columns):  # a manifest of evalkit compress: every cell checked
        table = read_manifest(manifest)
    if args.shard:
        references = list(dict.fromkeys(table["reference"]))
        table = table[table["reference"].isin(args.shard.take(references))].reset_index(drop=True)
        plan = plan_hash([references, list(engine.options.metrics), engine.patch_size, engine.precision])
        write_record(
            record_path(out),
            "metrics",
            args.shard,
            plan,
            table[["reference", "reconstruction"]].values.tolist(),
            root=str(manifest.parent.resolve()),
        )
    with cluster_executor(args, 1) as executor:
        result = engine.evaluate(
            table, root=manifest.parent, progress=not args.quiet, executor=executor, sets=args.shard is None
        )
    pairs = result.pairs
    if models:
        from ..fit import add_combined_columns

        pairs = add_combined_columns(pairs, models)
    write_table(pairs, out)
    print(metrics_summary(pairs).to_string())
    print(f"\n{len(pairs)} pairs → {out}")
    if result.features is not None:
        result.features.save(features_path(out))
    if result.sets is not None:
        write_table(result.sets, sets_out)
        print(f"\n{result.sets.round(4).to_string(index=False)}\n\nset-level metrics → {sets_out}")
    elif result.features is not None:
        print(
            f"FID/KID of shard {args.shard}: computed by 'evalkit merge' from the features of "
            f"all shards ({features_path(out)})"
        )
    return 0
