"""Training throughput: images per second of evalkit's training step beside the loop of
CompressAI's ``examples/train.py`` (``train_one_epoch``: zero both optimisers, forward,
``RateDistortionLoss``, backward, clip the gradient norm at 1, step, then the aux loss and its
optimiser), written here for the same model, batch and patch, measured the same way in the same
run: the same pre-cropped batches from memory, warm-up steps not counted, the two loops
alternated so machine load hits both alike. Target: ratio ≥ 1.0 on a CPU, ≥ 1.3 on a GPU, where
evalkit adds automatic mixed precision and channels-last (the anchor runs float32, as
``examples/train.py`` does).

    .venv/bin/python bench/train_throughput.py --data ../shared/data/bsds500 [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import torch
from compressai.losses import RateDistortionLoss

from evalkit.train.data import RandomCrops, training_folders
from evalkit.train.recipe import parse_recipe
from evalkit.train.trainer import Trainer, build_model


def anchor_step(model, criterion, optimizer, aux_optimizer, x):
    """One iteration of CompressAI's ``train_one_epoch``."""
    optimizer.zero_grad()
    aux_optimizer.zero_grad()
    out = model(x)
    loss = criterion(out, x)["loss"]
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    aux = model.aux_loss()
    aux.backward()
    aux_optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per loop and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lmbda = 0.013
    recipe = parse_recipe(
        {
            "train": {
                "architecture": "bmshj2018-hyperprior",
                "N": 64,
                "M": 96,
                "lambda": lmbda,
                "losses": {"mse": 1.0},
                "patch": args.patch,
                "batch": args.batch,
                "steps": 1,
            }
        },
        "bench",
    )
    ours = Trainer(
        recipe,
        args.data,
        "/tmp/evalkit-bench-train",
        device=args.device,
        threads=args.threads,
        progress=False,
    )
    device = ours.device
    torch.manual_seed(0)
    anchor = build_model(recipe).to(device)
    params = dict(anchor.named_parameters())
    optimizer = torch.optim.Adam([p for n, p in params.items() if not n.endswith(".quantiles")], lr=1e-4)
    aux_optimizer = torch.optim.Adam([p for n, p in params.items() if n.endswith(".quantiles")], lr=1e-3)
    criterion = RateDistortionLoss(lmbda=lmbda)
    crops = RandomCrops(training_folders(args.data), args.patch, 0)
    batches = [crops.batch(s, args.batch) for s in range(args.steps + 2)]

    def time_ours():
        for s, x in enumerate(batches[:2]):
            ours.train_step(x, s, args.batch)
        sync(device)
        start = time.perf_counter()
        for s, x in enumerate(batches[2:]):
            ours.train_step(x, s, args.batch)
        sync(device)
        return args.steps * args.batch / (time.perf_counter() - start)

    def time_anchor():
        anchor.train()
        for x in batches[:2]:
            anchor_step(anchor, criterion, optimizer, aux_optimizer, x.to(device))
        sync(device)
        start = time.perf_counter()
        for x in batches[2:]:
            anchor_step(anchor, criterion, optimizer, aux_optimizer, x.to(device))
        sync(device)
        return args.steps * args.batch / (time.perf_counter() - start)

    ours_rates, anchor_rates = [], []
    for _ in range(args.rounds):
        anchor_rates.append(time_anchor())
        ours_rates.append(time_ours())
    best_ours, best_anchor = max(ours_rates), max(anchor_rates)
    amp = " (AMP + channels-last)" if device.type == "cuda" else ""
    print(
        f"bmshj2018-hyperprior N=64 M=96, batch {args.batch}, patch {args.patch}, {device}, "
        f"{args.threads} thread(s), best of {args.rounds} rounds of {args.steps} steps"
    )
    print(f"evalkit train step{amp}: {best_ours:7.2f} images/s")
    print(f"CompressAI examples/train.py loop: {best_anchor:7.2f} images/s")
    print(f"ratio evalkit / CompressAI: {best_ours / best_anchor:.2f}")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
