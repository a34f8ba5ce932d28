# %% evalkit from Python (docs/python-api.md): compress, measure, compare, fit — run by the tests
import os

import pandas as pd
import torch

import evalkit

image = evalkit.resolve_images("samples")[0].load()[:256, :256]          # RGB uint8, (H, W, 3)
as_tensor = lambda pixels: torch.tensor(pixels).permute(2, 0, 1)[None] / 255   # (1, 3, H, W) in [0, 1]

# %% one image at 0.5 bpp with two codecs: real bytes, measured on tensors
for codec in ("jpeg", "webp"):
    out = evalkit.compress_image(image, codec, 0.5)
    scores = {m: round(evalkit.measure(m, reference=as_tensor(image), distorted=as_tensor(out.reconstruction)).item(), 4)
              for m in ("psnr", "ms-ssim", "lpips")}
    print(f"{codec}: {len(out.bitstream)} bytes, {out.bpp:.3f} bpp at setting {out.setting:g} {out.flag}", scores)

# %% BD-rate of WebP against JPEG from two PSNR curves (negative: WebP needs fewer bits)
curves = {}
for codec in ("jpeg", "webp"):
    points = [evalkit.compress_image(image, codec, bpp) for bpp in (0.25, 0.5, 1.0, 2.0)]
    curves[codec] = ([p.bpp for p in points],
                     [evalkit.measure("psnr", reference=image / 255, distorted=p.reconstruction / 255) for p in points])
print(f"BD-rate of webp against jpeg: {evalkit.bd_rate(*curves['jpeg'], *curves['webp']):+.1f} %")

# %% a combined metric fitted on real 2AFC judgements (JPEG AIC-3 study, $EVALKIT_SHARED_DIR/data/aic3)
aic3 = os.path.join(os.environ["EVALKIT_SHARED_DIR"], "data", "aic3")
values = pd.read_csv(f"{aic3}/JPEG-AIC_metric_scores_no_jnd.csv").set_index("img_distorted")
answers = pd.read_csv(f"{aic3}/JPEG_AIC_SDR_PTC_JPEG_AI_responses_2025.02.28_v1.csv")
answers = answers[answers.img_left.isin(values.index) & answers.img_right.isin(values.index)]
table = answers.groupby(["img_pivot", "img_left", "img_right"]).response.agg(   # a response names the
    n_a=lambda r: (r == "right").sum(), n_b=lambda r: (r == "left").sum()).reset_index()   # worse side (traps)
table.columns = ["reference", "a", "b", "n_a", "n_b"]
for column, name in (("psnr_y", "PSNR-Y"), ("ms_ssim", "MS-SSIM")):
    table[f"{column}_a"], table[f"{column}_b"] = values.loc[table.a, name].values, values.loc[table.b, name].values
results, model = evalkit.fit_table(table, ["psnr-y", "ms-ssim"])
print(results.to_string(index=False))
