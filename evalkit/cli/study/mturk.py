"""``evalkit study mturk``: the ExternalQuestion XML and HIT parameters."""

from __future__ import annotations

import argparse
import json

from ...errors import InputError


def add_parser(sub) -> argparse.ArgumentParser:
    mt = sub.add_parser("mturk", help="write the ExternalQuestion XML and HIT parameters")
    mt.add_argument("study", help="path to study.toml")
    mt.add_argument("--url", required=True, help="public https URL of the task page, e.g. https://host/task")
    mt.add_argument("--out", help="folder for external_question.xml and hit.json (default: the study's out/)")
    return mt


def run(args, config) -> int:
    from pathlib import Path

    from ...study.design import Design
    from ...study.mturk import external_question, hit_parameters

    out = Path(args.out) if args.out else config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    design = Design.load(config.trials_path)
    assignments = len(design.assignments)
    if design.active:  # one MTurk assignment per study assignment the budget needs
        assignments = config.budget_assignments
        if assignments is None:
            raise InputError("an active study needs stop_when.judgements to size its HIT (MaxAssignments)")
    (out / "external_question.xml").write_text(external_question(args.url))
    (out / "hit.json").write_text(json.dumps(hit_parameters(config, assignments, args.url), indent=1))
    print(
        f"{out / 'external_question.xml'} and {out / 'hit.json'} ({assignments} assignments); "
        "create the HIT with boto3: mturk.create_hit(**json.load(open('hit.json')))"
    )
    return 0
