"""``evalkit train``: a learned codec trained from a recipe in ``codecs/``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import add_training_options


def add_parser(sub) -> argparse.ArgumentParser:
    t = sub.add_parser(
        "train",
        help="train a learned codec from a recipe in codecs/",
        description="Train the codec a recipe (codecs/<name>.toml, [train] table) describes on "
        "random crops of DIR's subfolders except val/, validating on val/ with real "
        "bitstreams. Run the same command again to resume; under torchrun each "
        "process takes a slice of every batch. Writes the run and the zoo entry "
        "<name>.toml to --out (or the entry to --zoo; the recipe itself is never "
        "edited): `EVALKIT_ZOO_DIR=OUT:zoo evalkit compress --codecs <name>` "
        "uses the model at once.",
    )
    t.add_argument("--recipe", required=True, help="codecs/<name>.toml with a [train] table")
    t.add_argument("--data", required=True, help="image folder: training subfolders and val/")
    t.add_argument("--out", required=True, help="run folder (checkpoint, logs, model)")
    t.add_argument("--zoo", help="where the trained zoo entry goes (default: --out)")
    t.add_argument("--steps", type=int, help="stop at this step instead of the recipe's")
    add_training_options(t, "CPU threads (default: the cores, split over processes)")
    return t


def run(args) -> int:
    from ..train.recipe import load_recipe
    from ..train.trainer import Trainer, zoo_entry_path

    recipe = load_recipe(args.recipe)  # checked whole before anything starts
    zoo_entry_path(recipe, Path(args.zoo or args.out))
    trainer = Trainer(
        recipe,
        args.data,
        args.out,
        device=args.device,
        threads=args.threads,
        weights_dir=args.weights_dir,
        progress=not args.quiet,
    )
    try:
        trainer.run(args.steps)
    except KeyboardInterrupt:
        return 130
    if trainer.rank == 0:
        entry = trainer.export(Path(args.zoo or args.out))
        print(
            f"model {trainer.out / (recipe.name + '.pth')}, zoo entry {entry}; logs "
            f"{trainer.out}/train.csv, validation.csv, tensorboard/"
        )
    return 0
