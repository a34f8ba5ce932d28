import io
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from evalkit.codecs import (
    FAMILIES,
    CodecError,
    bitstream_bpp,
    codec_table,
    configurations,
    get_codec,
    learned_zoo,
)
from evalkit.codecs.ffmpeg import find_ffmpeg
from evalkit.codecs.pillow import jpeg_qtables
from evalkit.errors import InputError

# classical codecs; learned ones have tests of their own (tests/test_learned.py)
AVAILABLE = [r.name for r in codec_table() if r.unavailable is None and r.family != "learned"]
PRIMARY = ["jpeg", "jpeg2000", "webp", "hevc-bpg", "heic", "avif", "jpegxl"]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def test_primary_codecs_run_here():
    assert set(PRIMARY) <= set(AVAILABLE), codec_table()


@pytest.mark.parametrize("name", AVAILABLE)
def test_round_trip_through_bytes(name, photo_crop, tmp_path):
    codec = get_codec(name)
    mid = codec.axis.clip(codec.axis.from_unit(0.6))
    data = codec.encode(photo_crop, mid)
    assert isinstance(data, bytes) and len(data) > 0
    path = tmp_path / f"x.{codec.extension}"
    path.write_bytes(data)
    decoded = codec.decode(path.read_bytes())
    assert decoded.dtype == np.uint8 and decoded.shape == photo_crop.shape
    assert psnr(photo_crop, decoded) > 24
    assert codec.encode(photo_crop, mid) == data, "encoders must be deterministic"
    assert bitstream_bpp(path.stat().st_size, *photo_crop.shape[:2]) == bitstream_bpp(len(data), 97, 131)
    assert codec.library_version()


def test_bitstream_bpp_counts_every_byte_over_the_original_pixels():
    assert bitstream_bpp(1000, 100, 80) == 1.0  # 8000 bits over 8000 pixels
    assert bitstream_bpp(125, 10, 20) == 5.0  # (H, W) order does not matter, sizes do
    assert bitstream_bpp(3, 1, 1) == 24.0


@pytest.mark.parametrize("name", PRIMARY)
@pytest.mark.parametrize("n", [3, 19])
def test_rate_is_monotone_on_the_axis(name, n, kodak_crop):
    """On a sixteenth of a landscape (3) and a portrait (19) photo: monotonicity is a property of
    the axis, not of the image's size."""
    codec, image = get_codec(name), kodak_crop(n, 128, 192)
    settings = [codec.axis.clip(codec.axis.from_unit(t)) for t in np.linspace(0.05, 0.95, 7)]
    sizes = [len(codec.encode(image, s)) for s in settings]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1], list(zip(settings, sizes))


def test_jpeg_tables_equal_libjpeg_at_integer_quality(kodak):
    im = Image.fromarray(kodak(1))
    for q in (5, 37, 50, 75, 95):
        a, b = io.BytesIO(), io.BytesIO()
        im.save(a, "JPEG", quality=q, optimize=True)
        im.save(b, "JPEG", qtables=jpeg_qtables(q), optimize=True)
        assert a.getvalue() == b.getvalue(), q


def test_jpeg_axis_is_finer_than_integers(kodak):
    codec = get_codec("jpeg")
    sizes = {len(codec.encode(kodak(1), 40 + k / 4)) for k in range(5)}
    assert len(sizes) >= 4


def test_jpeg_subsampling_options(photo_crop):
    for name, factors in (("jpeg", (2, 2)), ("jpeg-444", (1, 1))):
        data = get_codec(name).encode(photo_crop, 80)
        with Image.open(io.BytesIO(data)) as im:
            assert im.layer[0][1:3] == factors


def test_webp_is_lossy_vp8_even_at_top_quality(photo_crop):
    data = get_codec("webp").encode(photo_crop, 100)
    assert data[12:16] == b"VP8 "


def test_jpeg2000_is_rate_driven(kodak):
    codec = get_codec("jpeg2000")
    data = codec.encode(kodak(5), 0.5)
    assert abs(bitstream_bpp(len(data), 512, 768) / 0.5 - 1) < 0.05
    assert data[:4] == b"\xff\x4f\xff\x51"  # a bare J2K codestream: SOC then SIZ


def test_heic_keeps_full_chroma_by_default(photo_crop):
    import pillow_heif

    heif = pillow_heif.open_heif(io.BytesIO(get_codec("heic").encode(photo_crop, 30)))
    assert heif.info["chroma"] == 444
    heif = pillow_heif.open_heif(io.BytesIO(get_codec("heic-420").encode(photo_crop, 30)))
    assert heif.info["chroma"] == 420


def test_codec_table_lists_every_codec_with_reason_or_version():
    rows = {r.name: r for r in codec_table()}
    assert set(rows) == set(configurations()) | set(learned_zoo())
    for r in rows.values():
        assert (r.version is None) != (r.unavailable is None)


@pytest.mark.skipif(shutil.which("bpgenc") is not None, reason="bpgenc is installed here")
def test_bpg_without_its_programs_says_what_to_do():
    with pytest.raises(CodecError, match="bpgenc.*PATH.*hevc"):
        get_codec("bpg")


def test_unknown_codec_and_option():
    with pytest.raises(InputError, match="known codecs: jpeg"):
        get_codec("jpeg3000")
    with pytest.raises(ValueError, match="no option"):
        FAMILIES["jpeg"](quality=3)
    with pytest.raises(ValueError, match="subsampling"):
        FAMILIES["jpeg"](subsampling="4:1:1")


def test_codecs_refuse_non_rgb8(photo_crop):
    with pytest.raises(ValueError, match="RGB uint8"):
        get_codec("jpeg").encode(photo_crop.astype(np.uint16), 50)


def test_corrupt_bitstream_gives_codec_error(photo_crop):
    for name in PRIMARY:
        codec = get_codec(name)
        data = codec.encode(photo_crop, codec.axis.clip(codec.axis.from_unit(0.5)))
        with pytest.raises(CodecError):
            codec.decode(data[: len(data) // 3])


# ---------------------------------------------------------------- hevc-bpg (x265 as BPG uses it)


@pytest.mark.parametrize("height, width", [(61, 97), (161, 241), (16, 17)])
def test_hevc_bpg_round_trips_odd_sizes(height, width, kodak):
    image = np.ascontiguousarray(kodak(7)[:height, :width])
    codec = get_codec("hevc-bpg")
    decoded = codec.decode(codec.encode(image, 22 * 16))  # QP 22, in sixteenths
    assert decoded.shape == image.shape and psnr(image, decoded) > 36


def test_hevc_bpg_keeps_gray_gray(kodak):
    gray = np.asarray(Image.fromarray(kodak(8)).convert("L"))[:128, :160]
    image = np.repeat(gray[..., None], 3, axis=2)  # what load_image makes of grayscale
    codec = get_codec("hevc-bpg")
    decoded = codec.decode(codec.encode(image, 24 * 16)).astype(int)
    assert psnr(image, decoded) > 36
    assert np.abs(decoded[..., 0] - decoded[..., 2]).max() <= 2  # no colour cast appears


def test_hevc_bpg_colour_transform_is_bt601_full_range(kodak):
    from evalkit.codecs.hevc import rgb_to_ycbcr, ycbcr_to_rgb

    image = kodak(3)
    planes = rgb_to_ycbcr(image)
    reference = np.asarray(Image.fromarray(image).convert("YCbCr"))  # JFIF: BT.601, full range
    assert np.abs(planes.transpose(1, 2, 0).astype(int) - reference).max() <= 1
    assert np.abs(ycbcr_to_rgb(planes).astype(int) - image).max() <= 1


@pytest.mark.parametrize("name, setting, most", [("hevc-bpg-qp", 30, 90), ("hevc-bpg", 30 * 16 + 5, 135)])
def test_hevc_bpg_bitstream_is_hevc_444_with_a_small_header(name, setting, most, photo_crop, tmp_path):
    """The fine form adds a flat scaling list to the SPS: about 40 bytes."""
    from evalkit.codecs.hevc import MAGIC, annexb_units, nal_type, unpack

    data = get_codec(name).encode(photo_crop, setting)
    stream = unpack(data)
    assert [nal_type(u) for u in annexb_units(stream)] == [32, 33, 34, 20]  # VPS SPS PPS IDR_N_LP
    slice_bytes = len(annexb_units(stream)[-1])
    assert len(data) - slice_bytes < most, "container + parameter sets must stay small"
    (tmp_path / "s.hevc").write_bytes(stream)
    # ffmpeg describes the stream it reads (ffprobe's fields, in one line; no ffprobe is bundled)
    probe = subprocess.run(
        [find_ffmpeg("libx265").path, "-hide_banner", "-i", str(tmp_path / "s.hevc")],
        capture_output=True,
        text=True,
    ).stderr
    assert re.search(r"Video: hevc \(Rext\), yuv444p\(pc, smpte170m\b.*, 131x97,", probe), probe
    assert data.startswith(MAGIC)


def test_hevc_bpg_qp_setting_is_the_slice_qp(photo_crop):
    """QP n and n+1 are neighbouring rungs: more bits at the lower QP, distinct streams."""
    codec = get_codec("hevc-bpg-qp")
    sizes = [len(codec.encode(photo_crop, qp)) for qp in (26, 27, 28)]
    assert sizes[0] > sizes[1] > sizes[2], sizes


@pytest.mark.parametrize("qp", [24, 34])
def test_hevc_bpg_sixteenths_are_bpgs_qp_with_steps_between(qp, kodak):
    """The fine axis is BPG's: sixteenth 16q lands on integer QP q (rate within 1.5 %, the list's
    40 bytes included, PSNR within 0.08 dB on these small crops: the same λ and quantiser step),
    and the odd sixteenths between q and q + 1 fall
    strictly between their rates and fill the gap, no two neighbouring rates more than 2.5 %
    apart (RDO may swap two close settings on a small picture)."""
    image = np.ascontiguousarray(kodak(5)[:192, :320])
    fine, integer = get_codec("hevc-bpg"), get_codec("hevc-bpg-qp")
    reference = integer.encode(image, qp)
    on_rung = fine.encode(image, 16 * qp)
    assert abs(len(on_rung) / len(reference) - 1) < 0.015, (len(on_rung), len(reference))
    assert abs(psnr(image, fine.decode(on_rung)) - psnr(image, integer.decode(reference))) < 0.08
    sizes = [len(on_rung)] + [len(fine.encode(image, 16 * qp + j)) for j in range(1, 16, 2)]
    sizes.append(len(integer.encode(image, qp + 1)))
    assert all(sizes[0] > inner > sizes[-1] for inner in sizes[1:-1]), sizes
    ordered = sorted(sizes, reverse=True)
    assert max(a / b - 1 for a, b in zip(ordered, ordered[1:])) < 0.025, sizes


def test_hevc_bpg_quantiser_is_a_flat_list_around_qp_minus_18():
    from evalkit.codecs.hevc_fine import effective_qp, quantiser, scaling_list_text

    assert quantiser(30 * 16) == (12, 128) and effective_qp(12, 128) == 30
    assert quantiser(30 * 16 + 15) == (12, 143) and 30.9 < effective_qp(12, 143) < 31
    steps = [effective_qp(*quantiser(30 * 16 + i)) - 30 for i in range(16)]
    assert np.abs(np.array(steps) - np.arange(16) / 16).max() < 0.03, steps
    assert quantiser(0) == (0, 16) and quantiser(17 * 16 + 15)[0] == 0
    assert [effective_qp(*quantiser(k)) for k in range(0, 817)] == sorted(
        effective_qp(*quantiser(k)) for k in range(0, 817)
    )
    text = scaling_list_text(70)
    lines = text.splitlines()  # 4×4 and 8×8: 6 lists; 16×16: 6 with DC; 32×32: 2 with DC
    assert len(lines) == 2 * 6 + 2 * 6 + 4 * 6 + 4 * 2 and set(lines[1].split(",")) == {"70"}


def test_hevc_bpg_matches_a_target_within_one_percent(kodak):
    """What the integer QP could not: 0.5 bpp within 1 % on Kodak crops."""
    from evalkit.codecs.ratematch import RateSearch

    for n in (1, 5):
        image = np.ascontiguousarray(kodak(n)[:256, :256])
        match = RateSearch(get_codec("hevc-bpg"), image).match(0.5)
        assert match.flag == "" and abs(match.rel_error) <= 0.01, match


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: b"", "no b'EKH1' header"),
        (lambda d: d[:5], "header is truncated|announces"),
        (lambda d: d[: len(d) - 40], "truncated or damaged"),
        (lambda d: d + b"\x00\x01", "truncated or damaged"),
        (lambda d: d[:7] + d[7:40][::-1] + d[40:], "VPS, SPS, PPS|failed"),
        (lambda d: b"\x89PNG" + d[4:], "not an evalkit HEVC-intra file"),
    ],
)
def test_hevc_bpg_damaged_bitstreams_give_clear_errors(damage, message, photo_crop):
    codec = get_codec("hevc-bpg")
    with pytest.raises(CodecError, match=message):
        codec.decode(damage(codec.encode(photo_crop, 30 * 16)))


def test_hevc_bpg_refuses_pictures_x265_cannot_code():
    with pytest.raises(CodecError, match="at least 16×16"):
        get_codec("hevc-bpg").encode(np.zeros((15, 40, 3), np.uint8), 30 * 16)


def test_hevc_bpg_runs_through_the_bundled_ffmpeg_without_a_system_one(monkeypatch, tmp_path, photo_crop):
    """No ffmpeg on PATH (CI's Debian one hidden): imageio-ffmpeg's static build codes hevc-bpg."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE", raising=False)
    assert shutil.which("ffmpeg") is None
    codec = get_codec("hevc-bpg")
    assert codec.library_version().endswith("(imageio-ffmpeg)"), codec.library_version()
    data = codec.encode(photo_crop, 30 * 16)
    assert data.startswith(b"EKH1")
    assert psnr(photo_crop, codec.decode(data)) > 30


def test_a_system_ffmpeg_with_libx265_comes_before_the_bundled_one(monkeypatch, tmp_path):
    from evalkit.codecs.ffmpeg import bundled_ffmpeg

    (tmp_path / "ffmpeg").symlink_to(bundled_ffmpeg())  # a real ffmpeg, found on PATH
    monkeypatch.setenv("PATH", str(tmp_path))
    found = find_ffmpeg("libx265")
    assert (found.path, found.origin) == (str(tmp_path / "ffmpeg"), "system")
    assert find_ffmpeg("no-such-encoder") is None


def test_hevc_bpg_without_any_ffmpeg_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "no-ffmpeg"))  # imageio-ffmpeg's pointed away
    with pytest.raises(CodecError, match="no ffmpeg with libx265.*pip install imageio-ffmpeg"):
        get_codec("hevc-bpg")


# ---------------------------------------------------------------- vvc (VVenC + ffmpeg's VVC decoder)


@pytest.mark.parametrize("height, width", [(61, 97), (128, 128), (17, 16)])
def test_vvc_round_trips_real_bytes_at_odd_sizes(height, width, kodak, tmp_path):
    image = np.ascontiguousarray(kodak(7)[:height, :width])
    codec = get_codec("vvc")
    data = codec.encode(image, 27 * 16)  # QP 27, in sixteenths
    (tmp_path / "x.vvc").write_bytes(data)
    decoded = codec.decode((tmp_path / "x.vvc").read_bytes())
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert psnr(image, decoded) > 33


def test_vvc_bitstream_is_10_bit_420_vvc_intra(photo_crop, tmp_path):
    from evalkit.codecs.hevc import annexb_units
    from evalkit.codecs.vvc import MAGIC, vvc_nal_type

    data = get_codec("vvc").encode(photo_crop, 32 * 16)
    assert data.startswith(MAGIC)
    assert data[len(MAGIC)] == 0b11  # 131×97: padded by a column and a row
    stream = data[len(MAGIC) + 7 :]  # CRC-32, a 2-byte length: under 16 KiB
    types = [vvc_nal_type(u) for u in annexb_units(stream)]
    assert 15 in types and 16 in types and types.count(8) + types.count(7) == 1, types  # SPS PPS one IDR
    (tmp_path / "s.vvc").write_bytes(stream)
    probe = subprocess.run(
        [find_ffmpeg("libvvenc").path, "-hide_banner", "-i", str(tmp_path / "s.vvc")],
        capture_output=True,
        text=True,
    ).stderr
    assert re.search(r"Video: vvc.*yuv420p10le.*132x98", probe), probe


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: b"", "no b'EKV1' header"),
        (lambda d: d[: len(d) - 30], "truncated or damaged"),
        (lambda d: d[:6], "header is truncated"),
        (lambda d: b"EKH1" + d[4:], "not an evalkit VVC-intra file"),
    ]
    + [
        (lambda d, at=at: d[:at] + bytes([d[at] ^ 0x08]) + d[at + 1 :], "checksum")
        for at in (5, -20, -200, -600)
    ],
)
def test_vvc_damaged_bitstreams_give_clear_errors(damage, message, kodak):
    """Empty, cut, zeroed, foreign and bit-flipped files are refused, never decoded wrong."""
    image = np.ascontiguousarray(kodak(3)[:96, :128])
    codec = get_codec("vvc")
    with pytest.raises(CodecError, match=message):
        codec.decode(damage(codec.encode(image, 22 * 16)))


def test_vvc_fractions_of_a_qp_sit_on_the_curve_through_integer_qps(kodak):
    """The λ-scaled quarters between QP 32 and 33 fall between their rates, no two neighbours
    more than 4 % apart (sixteenths: about 1 %), and at PSNR no lower than 0.05 dB below the
    line through the two QPs (in log rate)."""
    image = np.ascontiguousarray(kodak(5)[:256, :256])
    codec = get_codec("vvc")
    points = []
    for setting in range(32 * 16, 33 * 16 + 1, 4):
        data = codec.encode(image, setting)
        points.append((len(data), psnr(image, codec.decode(data))))
    (r0, p0), (r1, p1) = points[0], points[-1]
    sizes = [r for r, _ in points]
    assert all(r0 > r > r1 for r in sizes[1:-1]), sizes
    assert max(a / b - 1 for a, b in zip(sizes, sizes[1:])) < 0.04, sizes
    for r, p in points[1:-1]:
        assert p > p0 + (p1 - p0) * np.log(r / r0) / np.log(r1 / r0) - 0.05, points


def test_vvc_matches_half_a_bit_per_pixel_within_one_percent(kodak):
    from evalkit.codecs.ratematch import RateSearch

    for n in (1, 5):
        image = np.ascontiguousarray(kodak(n)[:256, :256])
        match = RateSearch(get_codec("vvc"), image).match(0.5)
        assert match.flag == "" and abs(match.rel_error) <= 0.01, match


def test_vvc_upsampling_inverts_the_2x2_means_on_smooth_chroma():
    from evalkit.codecs.vvc import upsample_chroma

    ramp = np.add.outer(np.arange(9.0), 2 * np.arange(11.0))  # linear: exactly recoverable
    half = np.pad(ramp, ((0, 1), (0, 1)), mode="edge")
    half = (half[0::2, 0::2] + half[1::2, 0::2] + half[0::2, 1::2] + half[1::2, 1::2]) / 4
    up = upsample_chroma(half, 9, 11)
    assert up.shape == (9, 11) and np.abs(up - ramp)[1:-2, 1:-2].max() < 1e-9


# ---------------------------------------------------------------- avif (SVT-AV1, quarter-step CRF)


def test_avif_rate_control_is_finer_than_libaoms(kodak):
    """Over the same span of rates SVT-AV1's quarter-step CRF has over three times as many
    rungs as libavif/libaom's quality ladder (64 quantisers in all)."""
    image = np.ascontiguousarray(kodak(1)[:96, :128])
    ladders = {
        name: {len(get_codec(name).encode(image, s)) for s in settings}
        for name, settings in (("avif", range(120, 200)), ("avif-aom", range(30, 90)))
    }
    low = max(min(sizes) for sizes in ladders.values())
    high = min(max(sizes) for sizes in ladders.values())
    rungs = {name: sum(low <= n <= high for n in sizes) for name, sizes in ladders.items()}
    assert high > 1.5 * low and rungs["avif"] >= 3 * rungs["avif-aom"], rungs


def test_avif_meets_one_percent_where_libaom_cannot(kodak):
    from evalkit.codecs.ratematch import RateSearch

    def met(name):
        codec, flags = get_codec(name), []
        for n in (3, 8, 19, 23):
            search = RateSearch(codec, np.ascontiguousarray(kodak(n)[:256, :384]))
            flags += [search.match(target).flag for target in (0.3, 0.5, 0.7)]
        return flags.count("")

    svt, aom = met("avif"), met("avif-aom")
    assert svt >= 10 and svt > aom + 3, (svt, aom)  # 11 and 6 of 12 here


@pytest.mark.parametrize("height, width", [(61, 97), (8, 8), (3, 2), (17, 16)])
def test_avif_round_trips_odd_sizes_in_full_range_bt601(height, width, kodak):
    image = np.ascontiguousarray(kodak(7)[:height, :width])
    codec = get_codec("avif")
    decoded = codec.decode(codec.encode(image, 60))
    assert decoded.shape == image.shape and psnr(image, decoded) > 32
    gray = np.full((32, 48, 3), 200, np.uint8)
    assert np.abs(codec.decode(codec.encode(gray, 60)).astype(int) - 200).max() <= 1  # no range shift


def test_avif_takes_the_bundled_ffmpeg_first(monkeypatch, tmp_path):
    """A system ffmpeg (Debian 12's SVT-AV1 1.4 has whole CRF steps only) comes after the pinned one."""
    from evalkit.codecs.ffmpeg import bundled_ffmpeg

    (tmp_path / "ffmpeg").symlink_to(bundled_ffmpeg())
    monkeypatch.setenv("PATH", str(tmp_path))
    assert get_codec("avif").library_version().endswith("(imageio-ffmpeg)")
    assert find_ffmpeg("libsvtav1").origin == "system"


def test_avif_refuses_pictures_svt_av1_cannot_code():
    """SVT-AV1 4.2 fails on pictures of fewer than 4 pixels (1×3 included); 1×4 it codes."""
    codec = get_codec("avif")
    with pytest.raises(CodecError, match="at least 4 pixels, this one is 3×1"):
        codec.encode(np.zeros((1, 3, 3), np.uint8), 100)
    assert codec.decode(codec.encode(np.zeros((1, 4, 3), np.uint8), 100)).shape == (1, 4, 3)


@pytest.mark.parametrize(
    "family, options, message",
    [
        ("jpeg", {"quality": 3}, "no option"),
        ("jpeg", {"subsampling": "4:1:1"}, "subsampling"),
        ("hevc", {"preset": "fastest"}, "preset='fastest'"),
        ("vvc", {"preset": "fastest"}, "preset='fastest' is not one of faster, fast, medium"),
        ("bpg", {"chroma": "4:1:1"}, "chroma='4:1:1' is not one of 4:4:4, 4:2:2, 4:2:0"),
        ("heic", {"chroma": "4:1:1"}, "chroma='4:1:1'"),
        ("avif", {"subsampling": "4:2:2"}, "subsampling='4:2:2' is not one of 4:4:4, 4:2:0"),
        ("avif-svt", {"preset": 20}, "SVT-AV1's -1…13"),
    ],
)
def test_configuration_option_mistakes_are_input_errors(family, options, message):
    """An option a named configuration gives is the user's input: refused with InputError (CLI
    exit 2), whether the codec can run here or not."""
    with pytest.raises(InputError, match=re.escape(message)):
        FAMILIES[family](**options)


# ---------------------------------------------------------------- htj2k (OpenJPH, quantisation step)


def test_htj2k_is_a_bare_codestream_with_the_ht_capability(photo_crop):
    """T.814 codestreams start SOC, CAP (0xFF50: Part 15 capabilities), or SIZ then CAP."""
    data = get_codec("htj2k").encode(photo_crop, 0.05)
    assert data[:2] == b"\xff\x4f" and b"\xff\x50" in data[:64]


@pytest.mark.parametrize("n", [3, 19])
def test_htj2k_rate_is_monotone_in_the_step_and_matched_to_one_percent(n, kodak):
    from evalkit.codecs.ratematch import RateSearch

    codec, image = get_codec("htj2k"), kodak(n)
    sizes = [len(codec.encode(image, q)) for q in np.geomspace(0.002, 0.5, 12)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 12, sizes
    matched = RateSearch(codec, image).match(0.5)
    assert matched.flag == "" and abs(matched.bpp / 0.5 - 1) <= 0.01, matched


@pytest.mark.parametrize("height, width", [(61, 97), (1, 1), (3, 2), (17, 300)])
def test_htj2k_round_trips_odd_sizes(height, width, kodak):
    image = np.ascontiguousarray(kodak(7)[:height, :width])
    codec = get_codec("htj2k")
    decoded = codec.decode(codec.encode(image, 0.01))
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image).mean() < 2


def test_htj2k_decodes_without_wrapping_samples_around(kodak):
    """Near-lossless, every sample is within a few levels; OpenJPH's own decoder (imagecodecs)
    would send the rare sample past 0 or 255 round to the other end."""
    image = kodak(13)
    codec = get_codec("htj2k")
    error = np.abs(codec.decode(codec.encode(image, 0.002)).astype(int) - image)
    assert error.max() <= 8, error.max()


@pytest.mark.parametrize(
    "damage", [lambda d: d[: len(d) // 3], lambda d: b"\x00" * 40, lambda d: d[::-1], lambda d: b""]
)
def test_htj2k_damaged_bitstreams_give_codec_errors(damage, photo_crop):
    codec = get_codec("htj2k")
    with pytest.raises(CodecError, match="htj2k: (cannot decode|not a whole htj2k) bitstream"):
        codec.decode(damage(codec.encode(photo_crop, 0.05)))
