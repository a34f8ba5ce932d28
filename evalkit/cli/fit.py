"""``evalkit fit``: a combined metric fitted to human 2AFC judgements."""

from __future__ import annotations

import argparse

from .options import default_metrics, metric_names, name_list


def add_parser(sub) -> argparse.ArgumentParser:
    f = sub.add_parser(
        "fit",
        help="fit a combined metric to human 2AFC judgements (RANSAC over SVD least squares)",
        description="Fit every subset of the chosen metrics to a judgement table, print each "
        "one's weights and held-out 2AFC score with a 95%% CI, and save the "
        "combination of all chosen metrics.",
    )
    f.add_argument(
        "--judgements",
        required=True,
        help="CSV/Parquet with reference, a, b, n_a, n_b (and optional <metric>_a/_b)",
    )
    f.add_argument(
        "--metrics",
        type=name_list,
        default=default_metrics(),
        help=f"comma-separated metrics to combine: {', '.join(metric_names('pair'))} "
        "(computed where the table lacks them), or any NAME whose NAME_a/NAME_b "
        "columns the table holds (VMAF, SSIMULACRA2, … measured elsewhere; default: "
        + ",".join(default_metrics())
        + ")",
    )
    f.add_argument("--out", default="combined.json", help="model file to write (default: combined.json)")
    f.add_argument(
        "--formulation",
        choices=("pairwise", "per-sample"),
        default="pairwise",
        help="pairwise: d·(m(A)−m(B)) = p_A−½ (default); per-sample: d·m = b (the paper's)",
    )
    f.add_argument(
        "--link",
        choices=("probit", "logit", "linear"),
        default="probit",
        help="scale the preference fractions are fitted on: probit Φ⁻¹(p) (default, "
        "Thurstone), logit, or linear p−½ (the paper's)",
    )
    f.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    f.add_argument("--split-column", help="use this column's train/test values instead of folds")
    f.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="fixed RANSAC inlier threshold on the link's scale (default: twice each "
        "row's binomial standard error)",
    )
    f.add_argument("--hypotheses", type=int, default=1000, help="RANSAC hypotheses (default: 1000)")
    f.add_argument("--standardize", action="store_true", help="fit on metrics divided by their std")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--weights-dir", help="local network weights for metrics computed here")
    f.add_argument("--device", help="device for metrics computed here")
    return f


def run(args) -> int:
    from ..fit import fit_judgements, scores_path

    shown, model = fit_judgements(
        args.judgements,
        args.metrics,
        args.out,
        engine_options={"weights_dir": args.weights_dir, "device": args.device},
        folds=args.folds,
        split_column=args.split_column,
        seed=args.seed,
        formulation=args.formulation,
        link=args.link,
        residual_threshold=args.threshold,
        n_hypotheses=args.hypotheses,
        standardize=args.standardize,
    )
    split = f"split on {args.split_column}" if args.split_column else f"{args.folds}-fold"
    print(
        f"{model.n_judgements} judgements, {args.formulation} formulation, {args.link} link, held-out 2AFC "
        f"({split}, 95% CI):"
    )
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(
        f"\nmodel of {' + '.join(args.metrics)} → {args.out}; held-out 2AFC per combination → "
        f"{scores_path(args.out)}"
    )
    return 0
