"""Learned-codec benchmark: encode and decode seconds per Kodak image through evalkit's codec
(bytes in, self-describing file out, and back) next to CompressAI's own ``compress`` /
``decompress`` called directly on the same network in the same run, and their ratio. Target:
evalkit within 10 % of CompressAI (ratio ≤ 1.10) on a CPU. With a GPU, also the batched path
(images of one size coded together) per image.

Weights are random unless the checkpoints are cached (the speed of a network does not depend
on its weights, only the bitstream sizes do).

    .venv/bin/python bench/learned.py --kodak-dir ../shared/data/kodak [--images 4] [--quality 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from evalkit.codecs import learned_zoo
from evalkit.codecs.checkpoints import build_network
from evalkit.codecs.learned import LadderCodec, resolve_device
from evalkit.datasets import resolve_images

MODELS = ["bmshj2018-hyperprior-mse", "mbt2018-mean-mse"]


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def compressai_direct(net, image, device, multiple):
    """The anchor: CompressAI's compress/decompress on the tensor padded to ``multiple``, as its
    eval script does."""
    x = torch.from_numpy(image).to(device).permute(2, 0, 1)[None].float() / 255
    h, w = image.shape[:2]
    x = F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="replicate")
    with torch.inference_mode():
        start = time.perf_counter()
        out = net.compress(x)
        sync(device)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        net.decompress(out["strings"], out["shape"])["x_hat"][..., :h, :w].cpu()
        decode_s = time.perf_counter() - start
    return encode_s, decode_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kodak-dir", default=None)
    parser.add_argument("--images", type=int, default=4, help="Kodak images (default: 4)")
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--repeats", type=int, default=2, help="timings per image, best kept")
    args = parser.parse_args()
    device = resolve_device(args.device)
    images = [ref.load() for ref in resolve_images("kodak", args.kodak_dir)[: args.images]]
    print(
        f"{len(images)} Kodak images, quality {args.quality}, device {device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    rows = []
    for name in MODELS:
        spec = learned_zoo()[name]
        torch.manual_seed(0)
        codec = LadderCodec.from_network(
            build_network(spec, args.quality, None), spec, quality=args.quality, device=device
        )
        net = codec.network(args.quality).net
        codec.decode(codec.encode(images[0], args.quality))  # warm up both paths
        compressai_direct(net, images[0], device, spec.arch.padding)
        ours_e, ours_d, ref_e, ref_d = [], [], [], []
        for image in images:
            best = [np.inf] * 4
            for _ in range(args.repeats):
                data, e = timed(codec.encode, image, args.quality)
                _, d = timed(codec.decode, data)
                re, rd = compressai_direct(net, image, device, spec.arch.padding)
                best = [min(a, b) for a, b in zip(best, (e, d, re, rd))]
            for store, value in zip((ours_e, ours_d, ref_e, ref_d), best):
                store.append(value)
        rows.append((name, "encode", np.mean(ours_e), np.mean(ref_e)))
        rows.append((name, "decode", np.mean(ours_d), np.mean(ref_d)))
        if device.startswith("cuda"):
            by_size: dict = {}
            for image in images:
                by_size.setdefault(image.shape, []).append(image)
            enc = dec = 0.0
            for group in by_size.values():
                files, e = timed(codec.encode_batch, group, args.quality)
                _, d = timed(codec.decode_batch, files)
                enc, dec = enc + e, dec + d
            print(
                f"{name}: batched on {device}: encode {enc / len(images):.4f} s/image, "
                f"decode {dec / len(images):.4f} s/image"
            )
    print(f"\n{'codec':<26}{'step':<8}{'evalkit s/img':>14}{'CompressAI s/img':>18}{'ratio':>8}")
    for name, step, ours, ref in rows:
        print(f"{name:<26}{step:<8}{ours:>14.4f}{ref:>18.4f}{ours / ref:>8.3f}")


if __name__ == "__main__":
    main()
