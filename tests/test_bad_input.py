"""Every bad input is refused with one clear line, and nothing partial is claimed as whole.

The matrix runs ``evalkit.cli.main`` in-process on a tiny real run (two 48×64 crops of the
bundled photos, JPEG and WebP at 1 bpp, compressed whole and as two shards, measured with PSNR)
and damages one input per case: a file cut short, emptied, bit-flipped, replaced by garbage or
by a folder, a study or experiment file with a wrong type. Each case must exit 2 with one line on
stderr naming the file or the key (or, where one item of many was bad, report it and finish the
rest, exit 1) — never a traceback, never exit 0 on a partial result.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from evalkit.cli import main

FIXED = 'name = "tiny"\nimages = "IMAGES"\ncodecs = ["jpeg", "webp"]\nbpp = [1.0]\n'


@dataclass
class Bed:
    """The tiny run and the folder a case writes its damaged copies into."""

    images: Path  # two PNG crops
    run: Path  # compress + metrics (psnr) of both
    shards: list[Path]  # compress --shard 1/2 and 2/2 of both
    tables: list[Path]  # metrics --shard 1/2 and 2/2 over run/manifest.csv
    tmp: Path

    def copy(self, folder: Path, name: str) -> Path:
        target = self.tmp / name
        shutil.copytree(folder, target)
        return target

    def write(self, name: str, data: bytes | str) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def study(self, extra: str = "", base: str = FIXED, name: str = "study") -> Path:
        return self.write(f"{name}/study.toml", base.replace("IMAGES", str(self.images)) + extra)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from evalkit.datasets import resolve_images
    from evalkit.images import save_png

    root = tmp_path_factory.mktemp("tiny")
    images = root / "images"
    for i, ref in enumerate(resolve_images("samples")[:2]):
        save_png(ref.load()[:48, :64], images / f"im{i}.png")
    common = ["--images", str(images), "--codecs", "jpeg,webp", "--bpp", "1", "--quiet", "--workers", "1"]
    assert main(["compress", *common, "--out", str(root / "run")]) == 0
    shards = [root / f"s{k}" for k in (1, 2)]
    for k, shard in enumerate(shards, 1):
        assert main(["compress", *common, "--out", str(shard), "--shard", f"{k}/2"]) == 0
    manifest = str(root / "run" / "manifest.csv")
    assert main(["metrics", "--manifest", manifest, "--metrics", "psnr", "--quiet", "--no-cache"]) == 0
    for k in (1, 2):
        assert (
            main(
                [
                    "metrics",
                    "--manifest",
                    manifest,
                    "--metrics",
                    "psnr",
                    "--quiet",
                    "--no-cache",
                    "--shard",
                    f"{k}/2",
                ]
            )
            == 0
        )
    return images, root / "run", shards, [root / "run" / f"metrics-shard-{k}-of-2.csv" for k in (1, 2)]


@pytest.fixture
def bed(tiny, tmp_path):
    return Bed(*tiny, tmp_path)


def cut(data: bytes, keep: float = 1 / 3) -> bytes:
    return data[: int(len(data) * keep)]


def flip(data: bytes, at: float = 0.5) -> bytes:
    i = int(len(data) * at)
    return data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1 :]


def manifest_line_cut(bed: Bed, folder: Path) -> Path:
    """A copy of a run folder whose manifest is cut in the middle of its last row."""
    path = folder / "manifest.csv"
    text = path.read_text()
    path.write_text(text[: len(text) - 30])
    return folder


def header_only(path: Path) -> Path:
    path.write_text(path.read_text().splitlines()[0] + "\n")
    return path


def damaged_image(bed: Bed, ext: str, damage) -> Path:
    """A folder with one good PNG and one damaged image of type ``ext``."""
    import io

    from PIL import Image

    from evalkit.images import load_image

    folder = bed.tmp / f"images-{ext}"
    folder.mkdir()
    pixels = load_image(bed.images / "im0.png")
    shutil.copy(bed.images / "im1.png", folder / "good.png")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(
        buffer, {"jpg": "JPEG", "png": "PNG", "bmp": "BMP", "tif": "TIFF", "webp": "WEBP"}[ext]
    )
    (folder / f"bad.{ext}").write_bytes(damage(buffer.getvalue()))
    return folder


def run_with_bad_reconstruction(bed: Bed, damage) -> Path:
    folder = bed.copy(bed.run, "run")
    recon = folder / json_free_first(folder, "reconstruction")
    recon.write_bytes(damage(recon.read_bytes()))
    return folder


def json_free_first(folder: Path, column: str) -> str:
    import pandas as pd

    return pd.read_csv(folder / "manifest.csv")[column].iloc[0]


def pairs_with_jpeg(bed: Bed, damage) -> Path:
    """A pairs table whose one reconstruction is a damaged JPEG of its reference."""
    from PIL import Image

    folder = bed.tmp / "pairs"
    folder.mkdir()
    shutil.copy(bed.images / "im0.png", folder / "ref.png")
    Image.open(folder / "ref.png").save(folder / "recon.jpg", quality=95)
    (folder / "recon.jpg").write_bytes(damage((folder / "recon.jpg").read_bytes()))
    return bed.write("pairs/pairs.csv", "reference,reconstruction\nref.png,recon.jpg\n")


def compress_args(images: Path, bed: Bed) -> list[str]:
    return [
        "compress",
        "--images",
        str(images),
        "--codecs",
        "jpeg",
        "--bpp",
        "1",
        "--quiet",
        "--workers",
        "1",
        "--out",
        str(bed.tmp / "out"),
    ]


def metrics_args(manifest: Path) -> list[str]:
    return [
        "metrics",
        "--manifest",
        str(manifest),
        "--metrics",
        "psnr",
        "--quiet",
        "--no-cache",
        "--out",
        str(manifest.parent / "measured.csv"),
    ]


def merge_args(*runs: Path, out: Path) -> list[str]:
    return ["merge", *map(str, runs), "--out", str(out)]


def shard_with(bed: Bed, damage) -> list[str]:
    one = bed.copy(bed.shards[0], "s1")
    damage(one)
    return merge_args(one, bed.shards[1], out=bed.tmp / "merged")


def remove_listed(folder: Path, column: str) -> Path:
    (folder / json_free_first(folder, column)).unlink()
    return folder


def edit_record(folder: Path, change) -> Path:
    record = json.loads((folder / "shard.json").read_text())
    change(record)
    (folder / "shard.json").write_text(json.dumps(record))
    return folder


def table_with(bed: Bed, damage) -> list[str]:
    tables = []
    for table in bed.tables:
        copy = bed.tmp / table.name
        shutil.copy(table, copy)
        record = json.loads(table.with_name(f"{table.stem}_shard.json").read_text())
        copy.with_name(f"{table.stem}_shard.json").write_text(json.dumps(record))
        tables.append(copy)
    damage(tables[0])
    return merge_args(*tables, out=bed.tmp / "merged")


def report_of(bed: Bed, damage) -> list[str]:
    folder = bed.copy(bed.run, "run")
    damage(folder)
    return ["report", str(folder), "--out", str(bed.tmp / "report.html")]


def judgements(bed: Bed, text: str | bytes) -> list[str]:
    return [
        "fit",
        "--judgements",
        str(bed.write("judgements.csv", text)),
        "--metrics",
        "psnr",
        "--out",
        str(bed.tmp / "combined.json"),
    ]


def study(action: str, bed: Bed, extra: str = "", base: str = FIXED) -> list[str]:
    return ["study", action, str(bed.study(extra, base))]


LOOP = (
    'name = "tiny-loop"\nseed = 1\n[study]\nimages = "samples"\ncodecs = ["jpeg", "webp"]\n'
    'bpp = [0.5]\n[fit]\nmetrics = ["psnr"]\n[train]\nbase = "ek-variable-rate-mse"\n'
    'data = "training-samples"\nsteps = 1\n[second_study]\nbpp = [0.5]\n'
)


def loop(bed: Bed, text: str | bytes) -> list[str]:
    return ["loop", str(bed.write("loop/experiment.toml", text)), "--quiet"]


RECIPE = Path(__file__).parents[1] / "codecs" / "ek-hyperprior-mse.toml"


def train(bed: Bed, recipe: str | bytes | None = None, data: Path | None = None) -> list[str]:
    path = RECIPE if recipe is None else bed.write("recipe/r.toml", recipe)
    return [
        "train",
        "--recipe",
        str(path),
        "--data",
        str(data or bed.images),
        "--out",
        str(bed.tmp / "train-out"),
        "--steps",
        "1",
        "--quiet",
    ]


# (id, argv builder, expected exit status, text the one stderr line must hold)
CASES = [
    # compress: an unreadable image is reported, the other one done (exit 1)
    ("compress-jpeg-cut", lambda b: compress_args(damaged_image(b, "jpg", cut), b), 1, "bad.jpg"),
    (
        "compress-jpeg-cut-tail",
        lambda b: compress_args(damaged_image(b, "jpg", lambda d: d[:-2]), b),
        1,
        "bad.jpg",
    ),
    ("compress-jpeg-empty", lambda b: compress_args(damaged_image(b, "jpg", lambda d: b""), b), 1, "bad.jpg"),
    ("compress-png-cut", lambda b: compress_args(damaged_image(b, "png", cut), b), 1, "bad.png"),
    (
        "compress-png-no-iend",
        lambda b: compress_args(damaged_image(b, "png", lambda d: d[:-12]), b),
        1,
        "bad.png",
    ),
    ("compress-png-flipped", lambda b: compress_args(damaged_image(b, "png", flip), b), 1, "bad.png"),
    ("compress-png-empty", lambda b: compress_args(damaged_image(b, "png", lambda d: b""), b), 1, "bad.png"),
    ("compress-bmp-cut", lambda b: compress_args(damaged_image(b, "bmp", lambda d: d[:-3]), b), 1, "bad.bmp"),
    ("compress-tiff-cut", lambda b: compress_args(damaged_image(b, "tif", cut), b), 1, "bad.tif"),
    (
        "compress-webp-cut",
        lambda b: compress_args(damaged_image(b, "webp", lambda d: d[:-5]), b),
        1,
        "bad.webp",
    ),
    (
        "compress-webp-empty",
        lambda b: compress_args(damaged_image(b, "webp", lambda d: b""), b),
        1,
        "bad.webp",
    ),
    (
        "compress-no-images",
        lambda b: compress_args(b.write("noimages/notes.txt", "x").parent, b),
        2,
        "noimages",
    ),
    ("compress-image-file-missing", lambda b: compress_args(b.tmp / "none.png", b), 2, "none.png"),
    (
        "compress-garbage-old-manifest",
        lambda b: [
            *compress_args(b.images, b)[:-1],
            str(b.write("out/manifest.csv", b"\x89PNG\xff\x00").parent),
        ],
        2,
        "manifest.csv",
    ),
    # metrics
    ("metrics-empty-file", lambda b: metrics_args(b.write("m/manifest.csv", "")), 2, "manifest.csv"),
    (
        "metrics-garbage",
        lambda b: metrics_args(b.write("m/manifest.csv", b"\xff\xfe\x00garbage")),
        2,
        "manifest.csv",
    ),
    (
        "metrics-binary",
        lambda b: metrics_args(b.write("m/manifest.csv", (b.images / "im0.png").read_bytes())),
        2,
        "manifest.csv",
    ),
    ("metrics-no-columns", lambda b: metrics_args(b.write("m/manifest.csv", "a,b\n1,2\n")), 2, "reference"),
    ("metrics-folder", lambda b: metrics_args(b.run), 2, str(Path("run"))),
    ("metrics-missing", lambda b: metrics_args(b.tmp / "none.csv"), 2, "none.csv"),
    (
        "metrics-cut-mid-row",
        lambda b: metrics_args(manifest_line_cut(b, b.copy(b.run, "run")) / "manifest.csv"),
        2,
        "manifest.csv",
    ),
    (
        "metrics-extra-fields",
        lambda b: metrics_args(b.write("m/manifest.csv", "reference,reconstruction\na,b,c,d\n")),
        2,
        "manifest.csv",
    ),
    (
        "metrics-bad-parquet",
        lambda b: metrics_args(b.write("m/pairs.parquet", "not parquet")),
        2,
        "pairs.parquet",
    ),
    (
        "metrics-recon-cut",
        lambda b: metrics_args(run_with_bad_reconstruction(b, cut) / "manifest.csv"),
        2,
        ".png",
    ),
    (
        "metrics-recon-no-iend",
        lambda b: metrics_args(run_with_bad_reconstruction(b, lambda d: d[:-12]) / "manifest.csv"),
        2,
        ".png",
    ),
    (
        "metrics-recon-flipped",
        lambda b: metrics_args(run_with_bad_reconstruction(b, flip) / "manifest.csv"),
        2,
        ".png",
    ),
    (
        "metrics-recon-empty",
        lambda b: metrics_args(run_with_bad_reconstruction(b, lambda d: b"") / "manifest.csv"),
        2,
        ".png",
    ),
    ("metrics-recon-jpeg-cut", lambda b: metrics_args(pairs_with_jpeg(b, lambda d: d[:-2])), 2, "recon.jpg"),
    (
        "metrics-recon-jpeg-third",
        lambda b: metrics_args(pairs_with_jpeg(b, lambda d: d[: len(d) * 2 // 3])),
        2,
        "recon.jpg",
    ),
    (
        "metrics-recon-missing",
        lambda b: metrics_args(remove_listed(b.copy(b.run, "run"), "reconstruction") / "manifest.csv"),
        2,
        ".png",
    ),
    # merge: run folders
    (
        "merge-manifest-cut-mid-row",
        lambda b: shard_with(b, lambda f: manifest_line_cut(b, f)),
        2,
        "manifest.csv",
    ),
    (
        "merge-manifest-header-only",
        lambda b: shard_with(b, lambda f: header_only(f / "manifest.csv")),
        2,
        "s1",
    ),
    (
        "merge-manifest-empty",
        lambda b: shard_with(b, lambda f: (f / "manifest.csv").write_text("")),
        2,
        "manifest.csv",
    ),
    (
        "merge-manifest-garbage",
        lambda b: shard_with(b, lambda f: (f / "manifest.csv").write_bytes(b"\x00\xff" * 50)),
        2,
        "manifest.csv",
    ),
    (
        "merge-manifest-a-row-dropped",
        lambda b: shard_with(
            b,
            lambda f: (f / "manifest.csv").write_text(
                "\n".join((f / "manifest.csv").read_text().splitlines()[:-1]) + "\n"
            ),
        ),
        2,
        "shard 1/2",
    ),
    (
        "merge-reconstruction-missing",
        lambda b: shard_with(b, lambda f: remove_listed(f, "reconstruction")),
        2,
        ".png",
    ),
    ("merge-bitstream-missing", lambda b: shard_with(b, lambda f: remove_listed(f, "bitstream")), 2, ".jpg"),
    (
        "merge-shard-json-broken",
        lambda b: shard_with(b, lambda f: (f / "shard.json").write_text("{broken")),
        2,
        "shard.json",
    ),
    (
        "merge-shard-json-empty",
        lambda b: shard_with(b, lambda f: (f / "shard.json").write_text("")),
        2,
        "shard.json",
    ),
    (
        "merge-shard-json-list",
        lambda b: shard_with(b, lambda f: (f / "shard.json").write_text("[1, 2]")),
        2,
        "shard.json",
    ),
    (
        "merge-shard-json-no-rows",
        lambda b: shard_with(b, lambda f: edit_record(f, lambda r: r.pop("rows"))),
        2,
        "shard.json",
    ),
    (
        "merge-shard-json-bad-index",
        lambda b: shard_with(b, lambda f: edit_record(f, lambda r: r.update(shard=7))),
        2,
        "shard.json",
    ),
    (
        "merge-shard-json-bad-rows",
        lambda b: shard_with(b, lambda f: edit_record(f, lambda r: r.update(rows=[["im0", "jpeg", "x"], 1]))),
        2,
        "s1",
    ),
    (
        "merge-shard-json-string-count",
        lambda b: shard_with(b, lambda f: edit_record(f, lambda r: r.update(of="2"))),
        2,
        "shard.json",
    ),
    (
        "merge-metrics-in-folder-cut",
        lambda b: shard_with(b, lambda f: (f / "metrics.csv").write_text("reference,reconstruction\n")),
        2,
        "metrics.csv",
    ),
    ("merge-not-a-run", lambda b: merge_args(b.images, out=b.tmp / "merged"), 2, "manifest.csv"),
    ("merge-missing-input", lambda b: merge_args(b.tmp / "none", out=b.tmp / "merged"), 2, "none"),
    # merge: metrics tables
    ("merge-table-header-only", lambda b: table_with(b, header_only), 2, "metrics-shard-1-of-2.csv"),
    ("merge-table-empty", lambda b: table_with(b, lambda t: t.write_text("")), 2, "metrics-shard-1-of-2.csv"),
    (
        "merge-table-garbage",
        lambda b: table_with(b, lambda t: t.write_bytes(b"\xff" * 20)),
        2,
        "metrics-shard-1-of-2.csv",
    ),
    (
        "merge-table-record-broken",
        lambda b: table_with(b, lambda t: t.with_name(f"{t.stem}_shard.json").write_text("{")),
        2,
        "_shard.json",
    ),
    # report
    ("report-no-run", lambda b: ["report", str(b.tmp / "none")], 2, "none"),
    (
        "report-metrics-garbage",
        lambda b: report_of(b, lambda f: (f / "metrics.csv").write_bytes(b"\xff\x00" * 9)),
        2,
        "metrics.csv",
    ),
    (
        "report-metrics-empty",
        lambda b: report_of(b, lambda f: (f / "metrics.csv").write_text("")),
        2,
        "metrics.csv",
    ),
    (
        "report-metrics-no-columns",
        lambda b: report_of(b, lambda f: (f / "metrics.csv").write_text("a,b\n1,2\n")),
        2,
        "metrics.csv",
    ),
    # fit
    ("fit-judgements-empty", lambda b: judgements(b, ""), 2, "judgements.csv"),
    ("fit-judgements-garbage", lambda b: judgements(b, b"\xff\xfe\x00\x01"), 2, "judgements.csv"),
    ("fit-judgements-no-columns", lambda b: judgements(b, "a,b\n1,2\n"), 2, "judgements.csv"),
    ("fit-judgements-header-only", lambda b: judgements(b, "reference,a,b,n_a,n_b\n"), 2, "judgements.csv"),
    (
        "fit-judgements-text-counts",
        lambda b: judgements(b, "reference,a,b,n_a,n_b\nr.png,a.png,b.png,x,y\n"),
        2,
        "n_a",
    ),
    ("fit-judgements-missing", lambda b: ["fit", "--judgements", str(b.tmp / "none.csv")], 2, "none.csv"),
    # study files (the list, and more)
    ("study-bpp-not-a-list", lambda b: study("build", b, base=FIXED.replace("[1.0]", "0.5")), 2, "bpp"),
    (
        "study-judgements-string",
        lambda b: study("build", b, 'judgements_per_pair = "5"\n'),
        2,
        "judgements_per_pair",
    ),
    (
        "study-codecs-numbers",
        lambda b: study("build", b, base=FIXED.replace('["jpeg", "webp"]', "[1, 2]")),
        2,
        "codecs",
    ),
    (
        "study-codecs-one-string",
        lambda b: study("build", b, base=FIXED.replace('["jpeg", "webp"]', '"jpegwebp"')),
        2,
        "codecs: expected a list of strings, got 'jpegwebp'",
    ),
    ("study-seed-string", lambda b: study("build", b, 'seed = "x"\n'), 2, "seed"),
    (
        "study-repeats-flag-string",
        lambda b: study("build", b, 'allow_pair_repeats = "no"\n'),
        2,
        "allow_pair_repeats",
    ),
    ("study-name-path", lambda b: study("build", b, base=FIXED.replace('"tiny"', '"../../evil"')), 2, "name"),
    ("study-minutes-fraction", lambda b: study("build", b, "minutes = 2.5\n"), 2, "minutes"),
    (
        "study-instructions-list",
        lambda b: study("build", b, 'instructions = ["a", "b"]\n'),
        2,
        "instructions",
    ),
    ("study-layout-unknown", lambda b: study("build", b, 'layout = "grid"\n'), 2, "layout"),
    (
        "study-flicker-too-fast",
        lambda b: study("build", b, 'layout = "flicker"\nflicker_hz = 8\n'),
        2,
        "flicker_hz",
    ),
    ("study-unknown-key", lambda b: study("build", b, "colour = 1\n"), 2, "colour"),
    ("study-missing-key", lambda b: study("build", b, base=FIXED.replace('bpp = [1.0]\n', "")), 2, "bpp"),
    ("study-not-toml", lambda b: study("build", b, "name = \n"), 2, "study.toml"),
    (
        "study-not-utf8",
        lambda b: ["study", "build", str(b.write("study/study.toml", b"name = \"\xff\xfe\"\n"))],
        2,
        "study.toml",
    ),
    ("study-a-folder", lambda b: ["study", "build", str(b.images)], 2, str(Path("images"))),
    ("study-missing-file", lambda b: ["study", "build", str(b.tmp / "none.toml")], 2, "none.toml"),
    ("study-serve-seed-string", lambda b: study("serve", b, 'seed = "x"\n'), 2, "seed"),
    ("study-serve-unbuilt", lambda b: study("serve", b), 2, "evalkit study build"),
    ("study-analyze-minutes-fraction", lambda b: study("analyze", b, "minutes = 2.5\n"), 2, "minutes"),
    ("study-analyze-unbuilt", lambda b: study("analyze", b), 2, "study"),
    # loop
    ("loop-not-toml", lambda b: loop(b, "name = \n"), 2, "experiment.toml"),
    ("loop-not-utf8", lambda b: loop(b, b"name = \"\xff\"\n"), 2, "experiment.toml"),
    ("loop-a-folder", lambda b: ["loop", str(b.images)], 2, str(Path("images"))),
    (
        "loop-study-bpp-not-a-list",
        lambda b: loop(b, LOOP.replace("bpp = [0.5]\n[fit]", "bpp = 0.5\n[fit]")),
        2,
        "bpp",
    ),
    (
        "loop-study-minutes-fraction",
        lambda b: loop(b, LOOP.replace("[fit]", "minutes = 2.5\n[fit]")),
        2,
        "minutes",
    ),
    ("loop-steps-string", lambda b: loop(b, LOOP.replace("steps = 1", 'steps = "x"')), 2, "steps"),
    ("loop-unknown-section", lambda b: loop(b, LOOP + "[extra]\n"), 2, "extra"),
    # train
    (
        "train-recipe-missing",
        lambda b: [*train(b)[:2], str(b.tmp / "none.toml"), *train(b)[3:]],
        2,
        "none.toml",
    ),
    ("train-recipe-not-toml", lambda b: train(b, "architecture = \n"), 2, "r.toml"),
    ("train-recipe-not-utf8", lambda b: train(b, b"architecture = \"\xff\"\n"), 2, "r.toml"),
    (
        "train-recipe-steps-string",
        lambda b: train(b, RECIPE.read_text().replace("steps = ", 'steps = "x" #')),
        2,
        "steps",
    ),
    (
        "train-recipe-a-folder",
        lambda b: [*train(b)[:2], str(b.images), *train(b)[3:]],
        2,
        str(Path("images")),
    ),
    ("train-data-missing", lambda b: train(b, data=b.tmp / "none"), 2, "none"),
]


@pytest.mark.parametrize("build, status, names", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_no_traceback(bed, build, status, names, capsys):
    argv = build(bed)
    capsys.readouterr()
    assert main(argv) == status  # a traceback would fail the test here
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert names in err[0] and "Traceback" not in err[0], err[0]


def test_the_matrix_covers_every_command_and_enough_cases():
    commands = {c[0].split("-")[0] for c in CASES}
    assert commands >= {"compress", "metrics", "merge", "report", "fit", "study", "loop", "train"}
    assert len(CASES) >= 60


def test_a_refused_merge_writes_nothing(bed):
    """A reconstruction listed but missing used to leave the files placed before it in the output
    folder, and no manifest; now every check runs first and the output is moved in whole."""
    broken = remove_listed(bed.copy(bed.shards[1], "s2"), "reconstruction")
    out = bed.tmp / "merged"
    assert main(merge_args(bed.shards[0], broken, out=out)) == 2
    assert not out.exists()
    assert not [p for p in bed.tmp.iterdir() if "merging" in p.name]  # no staging folder left
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(merge_args(bed.shards[0], broken, out=out)) == 2
    assert [p.name for p in out.rglob("*")] == ["notes.txt"]


def test_whole_shards_still_merge_into_an_existing_folder(bed, capsys):
    out = bed.tmp / "merged"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(merge_args(*bed.shards, out=out)) == 0
    import pandas as pd

    manifest = pd.read_csv(out / "manifest.csv")
    assert len(manifest) == 4 and (out / "notes.txt").read_text() == "mine"
    assert all((out / p).is_file() for p in manifest["reconstruction"])
    assert main(merge_args(*bed.tables, out=bed.tmp / "tables")) == 0
    assert len(pd.read_csv(bed.tmp / "tables" / "metrics.csv")) == 4


ZOO = (
    'architecture = "bmshj2018-hyperprior"\nloss = "mse"\nqualities = [3]\n'
    '[checkpoints.3]\nfile = "m.pth"\nurl = ""\nsha256 = ""\n'
)


@pytest.mark.parametrize(
    "text, names",
    [
        (ZOO.replace("qualities = [3]", 'qualities = "3"'), "qualities: expected a list of whole numbers"),
        (ZOO.replace("qualities = [3]", "qualities = [3]\nlambdas = [-1.0]"), "lambdas must be more than 0"),
        (ZOO.replace('file = "m.pth"', "file = 3"), "[checkpoints.3] file: expected a string"),
        (ZOO.replace('file = "m.pth"\n', ""), "[checkpoints.3] missing key 'file'"),
        (
            ZOO.replace("[checkpoints.3]", "[checkpoints.best]"),
            "[checkpoints.best]: a quality is a whole number",
        ),
        (ZOO.split("[checkpoints")[0], "no [checkpoint] table"),
        (ZOO.replace("qualities", "qualitys"), "unknown key 'qualitys'"),
        (ZOO.replace('"bmshj2018-hyperprior"', "5"), "architecture: expected a string"),
        (b"architecture = \"\xff\"\n", "not UTF-8"),
        ("architecture = \n", "not valid TOML"),
    ],
    ids=[
        "qualities-string",
        "lambda-negative",
        "file-number",
        "file-missing",
        "quality-name",
        "no-checkpoint",
        "unknown-key",
        "architecture-number",
        "not-utf8",
        "not-toml",
    ],
)
def test_a_broken_zoo_file_is_one_line_naming_file_and_key(tmp_path, monkeypatch, capsys, text, names):
    from evalkit.codecs import learned_zoo

    zoo = tmp_path / "zoo"
    zoo.mkdir()
    (zoo / "mine.toml").write_bytes(text.encode() if isinstance(text, str) else text)
    monkeypatch.setenv("EVALKIT_ZOO_DIR", str(zoo))
    learned_zoo.cache_clear()
    try:
        assert main(["codecs"]) == 2
    finally:
        learned_zoo.cache_clear()
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "mine.toml" in err[0] and names in err[0], err


def test_a_cached_bitstream_cut_short_is_encoded_again(bed):
    """The encode cache is a file like any other: one cut short is encoded again, not decoded
    (nor blamed on the codec as non-determinism)."""
    from evalkit.files import cache_dir

    args = [
        "compress",
        "--images",
        str(bed.images),
        "--codecs",
        "jpeg",
        "--bpp",
        "1",
        "--quiet",
        "--workers",
        "1",
    ]
    assert main([*args, "--out", str(bed.tmp / "first")]) == 0
    cached = sorted((cache_dir() / "encodes" / "jpeg").rglob("*.jpg"))
    assert cached
    for path in cached:
        path.write_bytes(path.read_bytes()[:-7])
    assert main([*args, "--out", str(bed.tmp / "again")]) == 0
    for recon in sorted((bed.tmp / "first" / "reconstructions").rglob("*.png")):
        again = bed.tmp / "again" / recon.relative_to(bed.tmp / "first")
        assert again.read_bytes() == recon.read_bytes()
