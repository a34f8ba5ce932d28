"""Training parity: evalkit's trainer beside CompressAI's reference loop on the same problem.

For each λ, the same architecture (CompressAI's ``bmshj2018-hyperprior``, small N/M), the same
training images, crop size, batch, number of steps, Adam learning rates, gradient clipping and
seed are trained twice in this run:

- **evalkit**: ``evalkit train``'s :class:`~evalkit.train.trainer.Trainer` on a recipe with
  ``losses = { mse = 1.0 }`` (its own seeded crops, no learning-rate milestones);
- **reference**: the loop of CompressAI's ``examples/train.py`` as that script runs it: a
  ``DataLoader`` over the training files with ``RandomCrop`` + ``ToTensor`` and shuffling,
  ``configure_optimizers`` (the package's ``net_aux`` optimiser pair: Adam on the network,
  Adam on the ``.quantiles``), ``compressai.losses.RateDistortionLoss(λ)``, ``train_one_epoch``
  (gradient norm clipped at 1, then the aux step) and ``ReduceLROnPlateau`` stepped on the test
  loss after each epoch (the test crops: centre crops of the first ``--test-images`` images of
  ``val/``, as the script's ``CenterCrop`` test set).

Both models are then coded to real bitstreams on the held-out Kodak images with evalkit's
learned-codec wrapper and decoded; the table gives bpp (file bytes), PSNR and MS-SSIM per λ and
model, and the training wall time, and BD-rate (PSNR and MS-SSIM) of evalkit's curve against
the reference's. Target: |BD-rate| ≤ 2 % (within 0.1 dB at equal bpp) at equal wall time or
better. The two trainings of a λ run one after the other on the same threads, so machine load
hits both alike.

    .venv/bin/python bench/train_parity.py --data ../shared/data/bsds500 \\
        --kodak-dir ../shared/data/kodak [--steps 1000] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from evalkit.codecs import bitstream_bpp
from evalkit.codecs.checkpoints import LearnedSpec
from evalkit.codecs.learned import LadderCodec
from evalkit.datasets import resolve_images
from evalkit.metrics import pair_metric, to_tensor
from evalkit.report.bjontegaard import BDRefusal, bd_rate
from evalkit.train.data import image_files, training_folders
from evalkit.train.recipe import parse_recipe
from evalkit.train.trainer import Trainer, build_model

ARCHITECTURE = "bmshj2018-hyperprior"
LAMBDAS = (0.0035, 0.0067, 0.013, 0.025)  # CompressAI's qualities 2–5


class Crops(Dataset):
    """examples/train.py's ImageFolder with its transforms: an RGB file, cropped, as a tensor."""

    def __init__(self, files: list[Path], crop):
        self.files, self.crop = files, crop

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        return self.crop(Image.open(self.files[index]).convert("RGB"))


def reference_train(recipe, data: Path, test_images: int) -> torch.nn.Module:
    """CompressAI's examples/train.py on ``recipe``'s settings, for ``recipe.steps`` iterations."""
    from compressai.losses import RateDistortionLoss
    from compressai.optimizers import net_aux_optimizer

    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    train_files = [f for folder in training_folders(data) for f in image_files(folder)]
    train = DataLoader(
        Crops(train_files, transforms.Compose([transforms.RandomCrop(recipe.patch), transforms.ToTensor()])),
        batch_size=recipe.batch,
        shuffle=True,
        drop_last=True,
    )
    test_batch = torch.stack(
        list(
            Crops(
                image_files(data / "val")[:test_images],
                transforms.Compose([transforms.CenterCrop(recipe.patch), transforms.ToTensor()]),
            )
        )
    )
    net = build_model(recipe)
    optimizers = net_aux_optimizer(
        net, {"net": {"type": "Adam", "lr": recipe.lr}, "aux": {"type": "Adam", "lr": recipe.aux_lr}}
    )
    optimizer, aux_optimizer = optimizers["net"], optimizers["aux"]
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
    criterion = RateDistortionLoss(lmbda=recipe.lmbda[0])
    step = 0
    while step < recipe.steps:
        net.train()
        for x in train:  # train_one_epoch
            optimizer.zero_grad()
            aux_optimizer.zero_grad()
            out = criterion(net(x), x)
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            aux = net.aux_loss()
            aux.backward()
            aux_optimizer.step()
            step += 1
            if step == recipe.steps:
                break
        net.eval()  # test_epoch, then the scheduler
        with torch.no_grad():
            scheduler.step(float(criterion(net(test_batch), test_batch)["loss"]))
    return net


def evalkit_train(recipe, data: Path, threads: int) -> torch.nn.Module:
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(recipe, data, out, device="cpu", threads=threads, progress=False)
        trainer.run()
        return trainer.model


def coded(net: torch.nn.Module, name: str, images: list[np.ndarray], metrics: dict) -> dict:
    """Mean bpp (file bytes), PSNR and MS-SSIM of ``images`` through real bitstreams."""
    codec = LadderCodec.from_network(net.eval(), LearnedSpec(name, ARCHITECTURE), quality=0, device="cpu")
    rows = []
    for image in images:
        data = codec.encode(image, 0)
        decoded = codec.decode(data)
        rows.append(
            [bitstream_bpp(len(data), *image.shape[:2])]
            + [float(m(to_tensor(image), to_tensor(decoded))) for m in metrics.values()]
        )
    return dict(zip(["bpp", *metrics], np.mean(rows, axis=0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="training folder (BSDS500: train/, test/, val/)")
    parser.add_argument("--kodak-dir", required=True, help="held-out evaluation images")
    parser.add_argument("--lambdas", default=",".join(map(str, LAMBDAS)))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--N", type=int, default=32)
    parser.add_argument("--M", type=int, default=48)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--test-images", type=int, default=16)
    parser.add_argument("--images", type=int, default=24, help="Kodak images scored")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    images = [ref.load() for ref in resolve_images("kodak", args.kodak_dir)[: args.images]]
    metrics = {"psnr": pair_metric("psnr"), "ms_ssim": pair_metric("ms-ssim")}
    results = {"evalkit": [], "reference": []}
    print(
        f"{ARCHITECTURE} N={args.N} M={args.M}, {args.steps} steps of {args.batch} crops of "
        f"{args.patch}², lr {args.lr:g}, {args.threads} threads; {len(images)} Kodak images\n"
    )
    print(f"{'λ':>7} {'trainer':<10} {'bpp':>6} {'PSNR':>6} {'MS-SSIM':>8} {'train s':>8}")
    for lmbda in map(float, args.lambdas.split(",")):
        recipe = parse_recipe(
            {
                "train": {
                    "architecture": ARCHITECTURE,
                    "N": args.N,
                    "M": args.M,
                    "lambda": lmbda,
                    "losses": {"mse": 1.0},
                    "steps": args.steps,
                    "patch": args.patch,
                    "batch": args.batch,
                    "lr": args.lr,
                    "aux_lr": 1e-3,
                    "seed": 0,
                    "validate_every": args.steps,
                    "validate_images": 1,
                }
            },
            f"parity-{lmbda:g}",
        )
        for trainer, train in (
            ("reference", lambda: reference_train(recipe, data, args.test_images)),  # noqa: B023
            ("evalkit", lambda: evalkit_train(recipe, data, args.threads)),  # noqa: B023
        ):
            start = time.perf_counter()
            net = train()
            seconds = time.perf_counter() - start
            row = {"lambda": lmbda, "seconds": seconds, **coded(net, trainer, images, metrics)}
            results[trainer].append(row)
            print(
                f"{lmbda:>7g} {trainer:<10} {row['bpp']:>6.3f} {row['psnr']:>6.2f} "
                f"{row['ms_ssim']:>8.4f} {seconds:>8.1f}",
                flush=True,
            )
    ours, anchor = results["evalkit"], results["reference"]
    print()
    for a, b in zip(anchor, ours):
        print(
            f"λ {a['lambda']:g}: evalkit − reference {b['bpp'] - a['bpp']:+.3f} bpp, "
            f"{b['psnr'] - a['psnr']:+.2f} dB PSNR, {b['ms_ssim'] - a['ms_ssim']:+.4f} MS-SSIM"
        )
    for key, name in (("psnr", "PSNR"), ("ms_ssim", "MS-SSIM")):
        to_db = (lambda v: -10 * math.log10(1 - v)) if key == "ms_ssim" else (lambda v: v)
        try:
            result = bd_rate(
                [r["bpp"] for r in anchor],
                [to_db(r[key]) for r in anchor],
                [r["bpp"] for r in ours],
                [to_db(r[key]) for r in ours],
            )
            print(
                f"BD-rate of evalkit against the reference ({name}): {result.value:+.2f} % "
                f"(target within ±2 %)"
            )
        except BDRefusal as exc:  # too few steps for a rate–distortion curve: train longer
            print(f"BD-rate ({name}) cannot be computed: {exc}")
    ratio = sum(r["seconds"] for r in anchor) / sum(r["seconds"] for r in ours)
    print(f"training time, reference / evalkit: {ratio:.2f} (target ≥ 1.0)")


if __name__ == "__main__":
    main()
