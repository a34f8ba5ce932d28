"""The training loop: a recipe, an image folder, and a run folder that holds everything.

``runs/<name>/`` receives ``checkpoint.pth`` (model, optimisers, schedule, step — enough to
resume), ``train.csv`` and ``validation.csv``, TensorBoard events under ``tensorboard/``, and at
the end ``<name>.pth``, the model alone in the form the learned-codec zoo loads; the zoo entry
(the recipe file with its ``[checkpoint]`` and ``[trained]`` tables filled in) is written to the
zoo folder (``evalkit train``: the run folder; never over the recipe), so ``evalkit compress
--codecs <name>`` with that folder in ``$EVALKIT_ZOO_DIR`` uses the model at once.

What makes a run repeatable and resumable: every random draw of step s — crops, λ, β and the
entropy models' quantisation noise — comes from generators seeded by (seed, s)
(:func:`~evalkit.train.data.step_generator`), so resuming at s reproduces the uninterrupted run.
A resumed run follows its recipe's learning-rate schedule from the step it resumes at, so a run
is lengthened by raising ``steps`` (and moving ``milestones`` not yet passed) and running again.

Devices: CPU with ``torch.set_num_threads`` (while training, restored after); one CUDA GPU with automatic mixed precision
(``torch.autocast`` + ``GradScaler``; the rate term stays float32) and channels-last tensors;
several processes through ``torchrun`` and :class:`~torch.nn.parallel.DistributedDataParallel`
(gloo on CPU, NCCL on GPUs), each taking its slice of the same global batch. The entropy
bottleneck's quantiles are trained by CompressAI's auxiliary loss with their own optimiser
(as CompressAI's ``examples/train.py``); under DDP their gradients are averaged by hand, as are
the discriminator's, whose loss is differentiated apart from the codec's (DDP sees only one
backward pass per forward).

Validation codes held-out images to real bitstreams through the learned-codec interface
(:mod:`evalkit.codecs.learned`), decodes them, and scores bpp (file size), PSNR, MS-SSIM and,
when its weights are available, LPIPS — the metric registry's forms, as the engine computes them.
"""

from __future__ import annotations

import csv
import math
import os
import re
import signal
import threading
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..codecs.architectures import architecture
from ..codecs.base import bitstream_bpp
from ..codecs.checkpoints import CheckpointSource, LearnedSpec, file_sha256
from ..codecs.learned import CODEC_CLASSES
from ..codecs.learned_names import file_options
from ..errors import InputError
from ..files import atomic_path
from ..metrics import WeightsError, pair_metric, to_tensor
from ..metrics.registry import DEFAULT_METRICS, METRICS, shown_columns
from ..models.discriminator import ConditionalPatchDiscriminator
from ..scoped import torch_settings
from .data import RandomCrops, step_generator, training_folders, validation_images
from .losses import GAN_LOSSES, RecipeTerm, correlation_loss, estimated_bpp
from .recipe import Recipe

TRAIN_COLUMNS = [
    "step",
    "loss",
    "bpp",
    "distortion",
    "correlation",
    "g_loss",
    "d_loss",
    "aux",
    "lr",
    "images_per_s",
]
VALIDATION_COLUMNS = ["step", "lambda", "bpp", *shown_columns()]


def build_model(recipe: Recipe) -> torch.nn.Module:
    """The untrained network a recipe names."""
    realism = recipe.gan is not None and recipe.gan.realism_input
    return architecture(recipe.architecture).untrained(
        recipe.N, recipe.M, lambda_range=recipe.lmbda, beta_range=recipe.gan.beta if realism else None
    )


def load_initial_weights(model: torch.nn.Module, recipe: Recipe) -> None:
    """Start ``model`` from the weights ``train.init`` names: the file must have the recorded
    SHA-256 and hold the same network (architecture and, for evalkit's own models, the same
    configuration: N, M, λ range…)."""
    init = recipe.init
    if not init.file.is_file():
        raise InputError(
            f"train.init.file {init.file} does not exist; the recipe starts from that "
            "model (its comment says where it comes from)"
        )
    CheckpointSource(str(init.file), sha256=init.sha256).verify(init.file)
    arch = architecture(recipe.architecture)
    start = arch.load(init.file)
    if arch.config(start) != arch.config(model):
        raise InputError(
            f"train.init.file {init.file} is a {recipe.architecture} model with "
            f"{arch.config(start)}, but the recipe builds one with "
            f"{arch.config(model)}; make N, M and the λ range match the model it "
            "starts from"
        )
    model.load_state_dict(start.state_dict())


class LatentTap:
    """Records what the model feeds its Gaussian conditional — the latent (quantised with
    noise), its scales and means — for the correlation loss and the discriminator's condition."""

    def __init__(self, model: torch.nn.Module):
        self.y_hat = self.scales = self.means = None
        model.gaussian_conditional.register_forward_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs, output):
        self.scales = args[1] if len(args) > 1 else kwargs["scales"]
        means = args[2] if len(args) > 2 else kwargs.get("means")
        self.y_hat = output[0]
        self.means = torch.zeros_like(self.y_hat) if means is None else means


def distributed_context() -> tuple[int, int]:
    """(rank, world size), joining the process group ``torchrun`` describes in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


class Trainer:
    def __init__(
        self,
        recipe: Recipe,
        data: str | Path,
        out: str | Path,
        device: str = "auto",
        threads: int | None = None,
        weights_dir=None,
        progress: bool = True,
    ):
        self.recipe, self.data, self.out = recipe, Path(data), Path(out)
        self.rank, self.world = distributed_context()
        if recipe.batch % self.world:
            raise InputError(
                f"train.batch = {recipe.batch} does not split over {self.world} "
                "processes; make it a multiple of the process count"
            )
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and self.world > 1:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"--device {device}: torch sees no CUDA device here; use --device cpu")
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        #: CPU threads while training (set for :meth:`run` only, then restored)
        self.threads = None if self.cuda else threads or max(1, (os.cpu_count() or 1) // self.world)
        self.weights_dir, self.progress = weights_dir, progress and self.rank == 0
        torch.manual_seed(recipe.seed)
        self.arch = architecture(recipe.architecture)
        self.model = build_model(recipe)
        if recipe.init:  # a resumed run then loads its own checkpoint over these (run())
            load_initial_weights(self.model, recipe)
        self.model = self.model.to(self.device)
        if self.cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.tap = LatentTap(self.model)
        gan_terms = recipe.gan.losses if recipe.gan else {}
        weights = (recipe.roi.salient, recipe.roi.background) if recipe.roi else ()
        self.terms = {
            name: RecipeTerm(name, *weights, weights_dir=weights_dir).to(self.device)
            for name in {**recipe.losses, **gan_terms}
        }
        aux_names = {n for n, _ in self.model.named_parameters() if n.endswith(".quantiles")}
        params = dict(self.model.named_parameters())
        self.optimizer = torch.optim.Adam([p for n, p in params.items() if n not in aux_names], lr=recipe.lr)
        self.aux_params = [params[n] for n in sorted(aux_names)]
        self.aux_optimizer = torch.optim.Adam(self.aux_params, lr=recipe.aux_lr)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, list(recipe.milestones), recipe.gamma
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.cuda)
        self.discriminator = self.d_optimizer = None
        if recipe.gan:
            latent_channels = recipe.M
            self.discriminator = ConditionalPatchDiscriminator(
                latent_channels, recipe.gan.heads, recipe.gan.levels
            ).to(self.device)
            self.d_optimizer = torch.optim.Adam(
                self.discriminator.parameters(), lr=recipe.gan.lr, betas=(0.5, 0.999)
            )
        self.network = self.model
        if self.world > 1:  # the discriminator's gradients are averaged by hand, see backward()
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self.model, aux_names)
            self.network = DistributedDataParallel(self.model)
        self.step = 0
        self.crops = None  # loaded by run(); tests may call train_step with their own batches

    # ------------------------------------------------------------------ losses
    def sample_lambda(self, step: int, size: int) -> torch.Tensor:
        """λ per image of the global batch: log-uniform over the recipe's range."""
        lo, hi = (math.log(v) for v in self.recipe.lmbda)
        u = torch.rand(size, generator=step_generator(self.recipe.seed, step, 1))
        return torch.exp(lo + u * (hi - lo))

    def sample_beta(self, step: int) -> float:
        """The step's realism weight β: uniform over the recipe's range (one per batch)."""
        lo, hi = self.recipe.gan.beta
        return lo + (hi - lo) * float(torch.rand(1, generator=step_generator(self.recipe.seed, step, 2)))

    def forward(
        self, x: torch.Tensor, lmbda: torch.Tensor, beta: float | None, network: torch.nn.Module | None = None
    ) -> dict:
        network = network or self.network
        if not self.arch.conditioned:
            return network(x)
        return network(x, lmbda, beta=beta if self.model.beta_range else None)

    def losses(
        self, x: torch.Tensor, step: int, global_batch: int, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Every term of the generator's loss on this process's images (``mask``: their masks,
        for the recipe's roi: terms), plus the discriminator's loss when the recipe has a GAN
        (scalars; ``loss`` is what is minimised)."""
        recipe = self.recipe
        share = len(x)
        lmbda = self.sample_lambda(step, global_batch)[self.rank * share : (self.rank + 1) * share]
        lmbda = lmbda.to(self.device)
        torch.manual_seed(recipe.seed * 1_000_003 + step * 97 + self.rank)  # quantisation noise
        beta = self.sample_beta(step) if recipe.gan else None
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.cuda else nullcontext()
        with autocast:
            out = self.forward(x, lmbda, beta)
            x_hat = out["x_hat"].float()
            d = self.weighted_distortion(recipe.losses, x, out, mask)
            if recipe.gan and recipe.gan.losses:
                d = d + beta * self.weighted_distortion(recipe.gan.losses, x, out, mask)
        bpp = estimated_bpp(out["likelihoods"], x.shape[2] * x.shape[3])
        per_image = bpp + lmbda * d
        terms = {"bpp": bpp.mean(), "distortion": d.mean()}
        if recipe.correlation:
            terms["correlation"] = correlation_loss(
                self.tap.y_hat.float(), self.tap.means.float(), self.tap.scales.float()
            )
            per_image = per_image + recipe.correlation * terms["correlation"]
        loss = per_image.mean()
        if recipe.gan and step >= recipe.gan.start:
            g_loss, d_loss = self.adversarial(x, x_hat, lmbda, beta)
            loss = loss + recipe.gan.weight * beta * g_loss
            terms.update(g_loss=g_loss, d_loss=d_loss)
        terms["loss"] = loss
        return terms

    def weighted_distortion(self, weights: dict[str, float], x, out: dict, mask) -> torch.Tensor:
        """Σ wᵢ dᵢ(x, x̂), one value per image."""
        return sum(w * self.terms[name](x, out, mask).float() for name, w in weights.items())

    def adversarial(self, x, x_hat, lmbda, beta):
        """(generator loss, discriminator loss) of the recipe's GAN on this batch; the
        discriminator is conditioned on ŷ and on the binned β level."""
        gan = self.recipe.gan
        lo, hi = gan.beta
        level = int(min(gan.levels - 1, (beta - lo) / max(hi - lo, 1e-12) * gan.levels))
        levels = torch.full((len(x),), level, device=self.device)
        latent = self.tap.y_hat.detach().float()
        real = self.discriminator(x, latent, levels)
        fake_detached = self.discriminator(x_hat.detach(), latent, levels)
        fake = self.discriminator(x_hat, latent, levels)
        loss = GAN_LOSSES[gan.loss]
        if gan.loss == "hrrgan":
            with torch.no_grad():  # the reconstruction at twice λ (a higher rate), held fixed
                higher = self.forward(
                    x, (lmbda * 2).clamp(max=self.recipe.lmbda[1]), beta, network=self.model
                )["x_hat"]
                higher_latent = self.tap.y_hat.float()
            fake_higher = self.discriminator(higher.float(), higher_latent, levels)
            d_loss, _ = loss(real, fake_detached, fake_higher)
            _, g_loss = loss(real.detach(), fake, fake_higher)
        else:
            d_loss, _ = loss(real, fake_detached)
            _, g_loss = loss(real.detach(), fake)
        return g_loss, d_loss

    # -------------------------------------------------------------------- steps
    def backward(
        self, x: torch.Tensor, step: int, global_batch: int, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The loss terms on this process's images (``mask``: their masks, for the recipe's roi:
        terms), with the gradients of the codec (averaged over processes by DDP) and of the
        discriminator (its own loss's, averaged by hand) in ``.grad``."""
        self.optimizer.zero_grad(set_to_none=True)
        terms = self.losses(x, step, global_batch, mask)
        adversarial = self.discriminator is not None and "d_loss" in terms
        if adversarial:
            d_params = list(self.discriminator.parameters())
            d_grads = torch.autograd.grad(terms["d_loss"], d_params, retain_graph=True, allow_unused=True)
        self.scaler.scale(terms["loss"]).backward()
        if adversarial:  # the generator's loss reached the discriminator too: keep its own only
            for p, g in zip(d_params, d_grads):
                p.grad = torch.zeros_like(p) if g is None else g
            self.average_over_processes(d_params)
        return terms

    def average_over_processes(self, params: list[torch.nn.Parameter]) -> None:
        """Average ``.grad`` over the processes, for parameters DDP does not manage."""
        if self.world > 1:
            for p in params:
                dist.all_reduce(p.grad)
                p.grad /= self.world

    def train_step(
        self, x: torch.Tensor, step: int, global_batch: int, mask: torch.Tensor | None = None
    ) -> dict[str, float]:
        """One optimisation step on this process's images ``x`` (and their masks, for a recipe
        with ``[train.roi]``); the loss terms as floats."""
        self.model.train()
        if self.cuda:
            x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        else:
            x = x.to(self.device)
        mask = None if mask is None else mask.to(self.device)
        terms = self.backward(x, step, global_batch, mask)
        if "d_loss" in terms:
            self.d_optimizer.step()
        self.scaler.unscale_(self.optimizer)
        # the main parameters only: the quantiles still hold the last aux step's gradient, which
        # a resumed run does not have (clipping over it made resuming inexact)
        torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.aux_optimizer.zero_grad(set_to_none=True)
        aux = self.model.aux_loss()
        aux.backward()
        self.average_over_processes(self.aux_params)
        self.aux_optimizer.step()
        values = {k: float(v.detach()) for k, v in terms.items()}
        values.update(aux=float(aux.detach()), lr=self.optimizer.param_groups[0]["lr"])
        return values

    # -------------------------------------------------------------- checkpoints
    @property
    def checkpoint_file(self) -> Path:
        return self.out / "checkpoint.pth"

    def save(self) -> None:
        if self.rank:
            return
        state = {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }
        if self.discriminator is not None:
            state["discriminator"] = self.discriminator.state_dict()
            state["d_optimizer"] = self.d_optimizer.state_dict()
        with atomic_path(self.checkpoint_file) as tmp:
            torch.save(state, tmp)

    def resume(self) -> bool:
        """Load ``checkpoint.pth`` if the run folder has one; True when it did."""
        if not self.checkpoint_file.is_file():
            return False
        state = torch.load(self.checkpoint_file, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        # the recipe's schedule governs from here on, so a run is lengthened by editing steps and
        # milestones; for an unchanged recipe this is what was saved
        self.scheduler.milestones = Counter(self.recipe.milestones)
        self.scheduler.gamma = self.recipe.gamma
        self.scaler.load_state_dict(state["scaler"])
        if self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.step = state["step"]
        return True

    # --------------------------------------------------------------- validation
    def codec(self):
        """The learned codec around a copy of the current weights (real bitstreams)."""
        net = build_model(self.recipe)
        net.load_state_dict(self.model.state_dict())
        spec = LearnedSpec(self.recipe.name, self.recipe.architecture)
        return CODEC_CLASSES[spec.kind].from_network(
            net, spec, device=str(self.device), **file_options(spec.kind)
        )

    def validation_lambdas(self) -> tuple[float, ...]:
        lo, hi = self.recipe.lmbda
        if self.recipe.validate_lambdas:
            return self.recipe.validate_lambdas
        return (lo,) if lo == hi else (lo, math.sqrt(lo * hi), hi)

    def validate(self, images) -> list[dict]:
        """bpp (file bytes) and the metrics shown by default (registry) of the held-out images,
        per λ."""
        codec = self.codec()
        rows = []
        for lmbda in self.validation_lambdas():
            setting = lmbda if self.arch.conditioned else 0
            streams = [codec.encode(im, setting) for im in images]
            decoded = [codec.decode(s) for s in streams]
            row = {
                "step": self.step,
                "lambda": lmbda,
                "bpp": sum(bitstream_bpp(len(s), *im.shape[:2]) for s, im in zip(streams, images))
                / len(images),
            }
            for name, metric in self.validation_metrics.items():
                row[name] = sum(
                    float(metric(to_tensor(a).to(self.device), to_tensor(b).to(self.device)))
                    for a, b in zip(images, decoded)
                ) / len(images)
            rows.append(row)
        return rows

    @property
    def validation_metrics(self) -> dict:
        if not hasattr(self, "_validation_metrics"):
            metrics = {}
            for name in DEFAULT_METRICS:
                try:
                    metrics[METRICS[name].column] = pair_metric(name, self.weights_dir, self.device)
                except WeightsError as exc:
                    print(f"note: validation without {name} ({exc})")
            self._validation_metrics = metrics
        return self._validation_metrics

    # ---------------------------------------------------------------------- run
    def run(self, steps: int | None = None) -> None:
        """Train to ``steps`` (default: the recipe's), resuming from the run folder's checkpoint,
        validating and saving every ``validate_every`` steps; Ctrl-C (or SIGTERM) saves and stops.
        The CPU thread count is the trainer's while it runs, the caller's again after."""
        with torch_settings(threads=self.threads):
            self._run(steps)

    def _run(self, steps: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        recipe = self.recipe
        steps = steps or recipe.steps
        self.out.mkdir(parents=True, exist_ok=True)
        resumed = self.resume()
        masks = recipe.roi.masks if recipe.roi else None
        if self.crops is None:
            self.crops = RandomCrops(
                training_folders(self.data),
                recipe.patch,
                recipe.seed,
                masks,
                recipe.downscale,
                recipe.roi.saliency if masks else None,
                self.progress,
            )
        val_images = validation_images(self.data, recipe.validate_images, masks) if self.rank == 0 else []
        train_log = CsvLog(self.out / "train.csv", TRAIN_COLUMNS, self.step if resumed else 0)
        val_log = CsvLog(self.out / "validation.csv", VALIDATION_COLUMNS, self.step if resumed else 0)
        writer = SummaryWriter(self.out / "tensorboard") if self.rank == 0 else None
        if threading.current_thread() is threading.main_thread():  # `kill` stops like Ctrl-C
            signal.signal(signal.SIGTERM, _interrupt)
        bar = tqdm(total=steps, initial=self.step, disable=not self.progress, desc=recipe.name, unit="step")
        try:
            while self.step < steps:
                started = time.perf_counter()
                x = self.crops.batch(self.step, recipe.batch, self.rank, self.world)
                mask = (
                    self.crops.mask_batch(self.step, recipe.batch, self.rank, self.world) if masks else None
                )
                values = self.train_step(x, self.step, recipe.batch, mask)
                values["images_per_s"] = recipe.batch / (time.perf_counter() - started)
                self.step += 1
                if self.rank == 0:
                    train_log.write({"step": self.step, **values})
                    for key, value in values.items():
                        writer.add_scalar(f"train/{key}", value, self.step)
                    bar.set_postfix(
                        {
                            k: f"{values[k]:.4g}"
                            for k in ("loss", "bpp", "distortion", "g_loss", "d_loss")
                            if k in values
                        }
                    )
                bar.update()
                if self.step % recipe.validate_every == 0 or self.step == steps:
                    self.save()
                    if self.rank == 0:
                        for row in self.validate(val_images):
                            val_log.write(row)
                            for key in VALIDATION_COLUMNS[2:]:
                                if key in row:
                                    writer.add_scalar(f"val/{key}@{row['lambda']:g}", row[key], self.step)
        except KeyboardInterrupt:
            self.save()
            print(
                f"\ninterrupted: step {self.step} saved in {self.checkpoint_file}; run the same "
                "command again to resume"
            )
            raise
        finally:
            bar.close()
            if writer is not None:
                writer.close()

    def export(self, zoo: Path) -> Path:
        """Write ``<name>.pth`` (the model alone) and the zoo entry ``codecs/<name>.toml``."""
        weights = self.out / f"{self.recipe.name}.pth"
        with atomic_path(weights) as tmp:
            torch.save(self.arch.export(self.model), tmp)
        return write_zoo_entry(self.recipe, weights, zoo, self.step, self.data)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class CsvLog:
    """Appends rows to a CSV log; on resume, first drops the rows after the resumed step."""

    def __init__(self, path: Path, columns: list[str], resumed_step: int):
        self.path, self.columns = path, columns
        kept = []
        if resumed_step and path.is_file():
            with open(path, newline="") as f:
                kept = [r for r in csv.DictReader(f) if int(r["step"]) <= resumed_step]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(kept)

    def write(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(row)


def zoo_entry_path(recipe: Recipe, zoo: Path) -> Path:
    """Where the zoo entry of ``recipe`` goes in ``zoo``; refused where that is the recipe file
    itself (a tracked file is never edited)."""
    target = Path(zoo) / f"{recipe.name}.toml"
    if recipe.source and target.resolve() == Path(recipe.source).resolve():
        raise InputError(
            f"the zoo entry would overwrite the recipe {recipe.source}; write it to "
            "another folder (evalkit train --zoo DIR; by default the run folder)"
        )
    return target


def write_zoo_entry(recipe: Recipe, weights: Path, zoo: Path, steps: int, data: Path) -> Path:
    """The recipe file with its ``[checkpoint]`` (file relative to the zoo folder, SHA-256) and
    ``[trained]`` (recipe, steps, data) tables replaced: a zoo entry the codec loads at once."""
    zoo = Path(zoo)
    text = recipe.source.read_text() if recipe.source else ""
    text = re.sub(r"(?ms)^\[(checkpoint|trained)\]\n.*?(?=^\[|\Z)", "", text).rstrip() + "\n"
    for key, value in (
        ("architecture", f'"{recipe.architecture}"'),
        ("lambdas", f"[{recipe.lmbda[0]!r}, {recipe.lmbda[1]!r}]"),
    ):
        if not re.search(rf"(?m)^{key}\s*=", text):
            text = f"{key} = {value}\n" + text
    file = os.path.relpath(weights.resolve(), zoo.resolve())
    text += (
        f'\n[checkpoint]\nfile = "{file}"\nurl = ""\nsha256 = "{file_sha256(weights)}"\n'
        f'\n[trained]\nrecipe = "{recipe.source.name if recipe.source else recipe.name} [train]"\n'
        f'steps = {steps}\ndata = "{Path(data).name}: {", ".join(p.name for p in training_folders(data))}'
        f' (validated on val)"\n'
    )
    if recipe.init:
        text += f'started_from = "{recipe.init.file.name} (SHA-256 {recipe.init.sha256})"\n'
    target = zoo_entry_path(recipe, zoo)
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return target
