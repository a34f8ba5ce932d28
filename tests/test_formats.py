"""A file or bitstream that is not whole is refused with its name, never decoded into an image.

Every image format evalkit reads and every codec's bitstream is cut at every length, emptied and
(where the format has a checksum or a length that covers the byte) bit-flipped; each must be an
:class:`~evalkit.errors.InputError` (``ImageReadError`` / ``CodecError``) naming the file or the
codec. See :mod:`evalkit.formats` for what a format without a checksum cannot show.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from evalkit.codecs import FAMILIES, CodecError, configurations, get_codec
from evalkit.datasets import resolve_images
from evalkit.formats import (
    IncompleteStream,
    check_boxes,
    check_bpg,
    check_j2k_codestream,
    check_png,
    check_riff_webp,
    with_bpg_length,
)
from evalkit.images import ImageReadError, load_image

IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG", "bmp": "BMP", "tif": "TIFF", "webp": "WEBP"}
SETTINGS = {
    "jpeg": 50,
    "jpeg-444": 50,
    "jpeg2000": 1.0,
    "webp": 50,
    "hevc-bpg": 30 * 16,
    "hevc-bpg-qp": 30,
    "vvc": 32 * 16,
    "heic": 30,
    "heic-420": 30,
    "bpg": 30,
    "avif": 120,
    "avif-aom": 50,
    "avif-444": 50,
    "jpegxl": 2.0,
    "htj2k": 0.05,
}
LEARNED = "ek-variable-rate-mse"  # its checkpoint ships in codecs/


@pytest.fixture(scope="module")
def small():
    return resolve_images("samples")[0].load()[:32, :48]


def cuts(n: int) -> list[int]:
    """Lengths to cut an n-byte file to: every one for a small file, else about 300 spread over
    it and each of the last 16 (where trailers and end markers lie)."""
    return sorted(set(range(0, n, max(1, n // 300))) | set(range(max(0, n - 16), n)))


def encoded(pixels: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, IMAGE_FORMATS[fmt])
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_every_cut_of_every_image_format_is_refused_with_its_name(fmt, small, tmp_path):
    data = encoded(small, fmt)
    path = tmp_path / f"photo.{fmt}"
    path.write_bytes(data)
    assert load_image(path).shape == small.shape
    for length in cuts(len(data)):
        path.write_bytes(data[:length])
        with pytest.raises(ImageReadError, match=f"photo.{fmt}"):
            load_image(path)


def test_a_jpeg_cut_to_a_third_is_refused_not_decoded_as_grey(tmp_path):
    """The issue's case: libjpeg fills what is missing with grey and warns; the warning used to be
    dropped, and the grey image measured."""
    path = tmp_path / "photo.jpg"
    Image.fromarray(resolve_images("samples")[0].load()[:256, :256]).save(path, quality=90)
    data = path.read_bytes()
    for keep in (len(data) // 3, len(data) - 2):
        path.write_bytes(data[:keep])
        with pytest.raises(ImageReadError, match="photo.jpg: not a whole JPG image"):
            load_image(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_bit_in_a_png_is_refused(small, position, bit):
    """PNG carries a CRC-32 per chunk (and the signature and IEND are fixed): no flip goes unseen."""
    data = bytearray(encoded(small, "png"))
    data[position % len(data)] ^= 1 << bit
    with pytest.raises(IncompleteStream):
        check_png(bytes(data))


BPG_FILE = Path(__file__).parent / "data" / "bpg" / "kodim13-64x64-q30-444.bpg"  # see its README


def test_a_bpg_file_as_bpgenc_writes_it_is_refused_until_its_length_is_filled_in():
    """bpgenc writes picture_data_length 0 ("to the end of the file"), so any cut of its picture
    data is a valid file: refused as written, checked to its last byte once the length is in."""
    data = BPG_FILE.read_bytes()
    with pytest.raises(IncompleteStream, match="picture_data_length is 0 .*with_bpg_length"):
        check_bpg(data)
    whole = with_bpg_length(data)
    check_bpg(whole)
    assert with_bpg_length(whole) == whole
    assert len(whole) - len(data) == 1  # 886 bytes of picture data: two ue7 bytes instead of one
    assert whole[:8] == data[:8] and whole[10:] == data[9:]  # the header's 0 replaced, nothing else
    for length in cuts(len(whole)):
        with pytest.raises(IncompleteStream):
            check_bpg(whole[:length])
    with pytest.raises(IncompleteStream, match="1 bytes after its picture data"):
        check_bpg(whole + b"\0")


@pytest.mark.skipif(shutil.which("bpgdec") is None, reason="libbpg's bpgdec is not on PATH")
def test_libbpg_decodes_a_filled_in_length_as_bpgencs_file_and_refuses_it_cut(tmp_path):
    def bpgdec(data: bytes) -> np.ndarray | None:
        src, dst = tmp_path / "in.bpg", tmp_path / "out.png"
        src.write_bytes(data)
        dst.unlink(missing_ok=True)
        if subprocess.run(["bpgdec", "-o", str(dst), str(src)], capture_output=True).returncode:
            return None
        return np.asarray(Image.open(dst).convert("RGB"))

    data = BPG_FILE.read_bytes()
    whole = with_bpg_length(data)
    as_written = bpgdec(data)
    assert as_written is not None and as_written.shape == (64, 64, 3)
    np.testing.assert_array_equal(bpgdec(whole), as_written)
    assert bpgdec(data[:-100]) is not None  # the defect: libbpg conceals a cut file as written
    assert bpgdec(whole[:-100]) is None


def available(name: str) -> bool:
    return FAMILIES[configurations()[name]["family"]].unavailable_reason() is None


CODECS = [
    pytest.param(name, marks=pytest.mark.skipif(not available(name), reason=f"{name} not available here"))
    for name in configurations()
] + [LEARNED]


def image_for(name: str, small: np.ndarray) -> np.ndarray:
    """``small``, or for bpg a 64 × 64 tiling of it: x265 3.5 under bpgenc encodes no picture
    smaller than one CTU (64 × 64 at bpgenc's preset)."""
    return np.tile(small, (2, 2, 1))[:64, :64] if name == "bpg" else small


@pytest.fixture(scope="module")
def bitstreams(small):
    cache = {}

    def bitstream(name):
        if name not in cache:
            codec = get_codec(name, device="cpu")
            setting = SETTINGS.get(name, codec.initial_setting(1.0))
            cache[name] = codec, codec.encode(image_for(name, small), setting)
        return cache[name]

    return bitstream


def test_every_zoo_codec_has_a_setting_here():
    assert set(configurations()) <= set(SETTINGS)


@pytest.mark.parametrize("name", CODECS)
def test_every_cut_of_every_codec_bitstream_is_refused_naming_the_codec(name, bitstreams, small):
    codec, data = bitstreams(name)
    assert codec.decode(data).shape == image_for(name, small).shape
    for length in range(len(data)):
        with pytest.raises(CodecError, match=f"^{name}: "):
            codec.decode(data[:length])


@pytest.mark.parametrize("name", CODECS)
def test_a_bitstream_with_a_byte_appended_is_refused(name, bitstreams):
    """A stream's end is part of its framing: stray bytes mean the wrong file or a wrong length."""
    codec, data = bitstreams(name)
    if name in ("jpeg", "jpeg-444"):
        pytest.skip("libjpeg ignores what follows EOI (T.81 allows nothing there, but files carry trailers)")
    if name == "jpegxl":
        pytest.skip("a bare JPEG XL codestream has no length field; libjxl stops at its last frame")
    with pytest.raises(CodecError, match=f"^{name}: "):
        codec.decode(data + b"\x00")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_bit_in_a_learned_bitstream_is_refused(bitstreams, position, bit):
    """The learned-codec container carries a CRC-32 of every byte before it."""
    codec, data = bitstreams(LEARNED)
    damaged = bytearray(data)
    damaged[position % len(data)] ^= 1 << bit
    with pytest.raises(CodecError, match=f"^{LEARNED}: "):
        codec.decode(bytes(damaged))


def test_a_damaged_length_field_is_refused(bitstreams):
    """Where a format has no checksum, its length fields still cover every byte: a flip in one of
    them (RIFF size, a J2K tile-part's Psot, an ISO box size) is refused before decoding."""
    webp = bitstreams("webp")[1]
    with pytest.raises(IncompleteStream, match="RIFF header announces"):
        check_riff_webp(webp[:4] + struct.pack("<I", struct.unpack("<I", webp[4:8])[0] ^ 4) + webp[8:])
    j2k = bitstreams("jpeg2000")[1]
    sot = j2k.index(b"\xff\x90")
    psot = struct.unpack(">I", j2k[sot + 6 : sot + 10])[0]
    with pytest.raises(IncompleteStream, match="JPEG 2000"):
        check_j2k_codestream(j2k[: sot + 6] + struct.pack(">I", psot - 3) + j2k[sot + 10 :])
    heic, last = bitstreams("heic")[1], 0
    while last + struct.unpack(">I", heic[last : last + 4])[0] < len(heic):  # to the last box
        last += struct.unpack(">I", heic[last : last + 4])[0]
    size = struct.unpack(">I", heic[last : last + 4])[0]
    with pytest.raises(IncompleteStream, match="box announces"):
        check_boxes(heic[:last] + struct.pack(">I", size + 1) + heic[last + 4 :])


def test_a_codec_must_declare_how_its_bitstream_is_checked():
    """A new codec family that forgets its stream_check cannot be constructed, so no decoder runs
    on a stream nothing checked."""
    from evalkit.codecs import Axis, Codec

    class Unchecked(Codec):
        family, extension, axis = "unchecked", "bin", Axis("q", 0, 1)

        @classmethod
        def library_version(cls):
            return "test"

        def encode(self, image, setting):
            return b""

        def decode(self, data):
            return np.zeros((1, 1, 3), np.uint8)

    with pytest.raises(TypeError, match="stream_check"):
        Unchecked()
    Unchecked.stream_check = staticmethod(check_png)
    with pytest.raises(CodecError, match="unchecked: not a whole unchecked bitstream: the file is empty"):
        Unchecked().decode(b"")
