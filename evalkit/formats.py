"""Whether a file or a bitstream is whole, checked before anything decodes it.

Many decoders conceal damage instead of reporting it: libjpeg fills a truncated scan with grey and
warns (imagecodecs and Pillow drop the warning), libpng stops at the last image row without
reading the chunks after it, OpenJPEG decodes the code-blocks it finds, an HEVC decoder conceals a
slice cut short. A concealed image would be measured as if the codec had made it. Each check
here reads the format's own framing — the lengths, markers and checksums its specification
defines — and raises :class:`IncompleteStream` (an :class:`~evalkit.errors.InputError`) saying
what is missing; the caller adds the file's or the codec's name.

What a check can and cannot see: a cut anywhere, an empty file and a damaged length or marker are
always found; a flipped bit is found where the format carries a checksum (PNG's CRC-32 per chunk,
the learned-codec container's CRC-32) or where it breaks the syntax (libjpeg's strict mode turns
its "corrupt data" warnings into errors). Inside the entropy-coded data of a format without a
checksum (JPEG, JPEG 2000, VP8, HEVC, AV1) a flipped bit can decode to another valid image; no
decoder can tell, and evalkit does not pretend to.
"""

from __future__ import annotations

import struct
import zlib

from .errors import InputError


class IncompleteStream(InputError):
    """A file or bitstream that is empty, cut short, or damaged in its framing."""


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise IncompleteStream(message)


def check_jpeg(data: bytes) -> None:
    """JPEG (ITU-T T.81): decoded by libjpeg-turbo in strict mode (simplejpeg), which turns each
    "corrupt JPEG data" warning — a missing EOI, a scan cut short, stray bytes before a marker —
    into an error."""
    import simplejpeg

    _need(len(data) > 0, "the file is empty")
    _need(data[:2] == b"\xff\xd8", "not a JPEG stream (no SOI marker)")
    try:
        simplejpeg.decode_jpeg(data, colorspace="gray", strict=True)
    except ValueError as exc:
        raise IncompleteStream(f"the JPEG stream is truncated or corrupt: {exc}") from exc


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png(data: bytes) -> None:
    """PNG (ISO/IEC 15948 §5.3): every chunk's length and CRC-32, from IHDR to an IEND that ends
    the file."""
    _need(len(data) > 0, "the file is empty")
    _need(data.startswith(PNG_SIGNATURE), "not a PNG file (no PNG signature)")
    pos, first = len(PNG_SIGNATURE), True
    while True:
        _need(pos + 12 <= len(data), f"the PNG file is truncated (cut at byte {len(data)}, no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        kind, end = kind.decode("latin-1"), pos + 12 + length
        _need(
            end <= len(data),
            f"the PNG file is truncated (its {kind!r} chunk needs {length} "
            f"bytes, {len(data) - pos - 12} are left)",
        )
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        _need(
            zlib.crc32(data[pos + 4 : end - 4]) == crc,
            f"the PNG file is corrupt (CRC mismatch in its {kind!r} chunk)",
        )
        _need(not first or kind == "IHDR", "the PNG file is corrupt (it does not start with IHDR)")
        first, pos = False, end
        if kind == "IEND":
            _need(pos == len(data), f"the PNG file has {len(data) - pos} stray bytes after IEND")
            return


def check_riff_webp(data: bytes) -> None:
    """WebP (RFC 9649 §2.4): the RIFF size covers the file exactly, and so do its chunks."""
    _need(len(data) > 0, "the file is empty")
    _need(
        len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP",
        "not a WebP file (no RIFF/WEBP header)",
    )
    (size,) = struct.unpack("<I", data[4:8])
    _need(
        size + 8 == len(data),
        f"the WebP file is truncated or padded: its RIFF header announces "
        f"{size + 8} bytes, the file holds {len(data)}",
    )
    pos = 12
    while pos < len(data):
        _need(pos + 8 <= len(data), "the WebP file is corrupt (a chunk header is cut)")
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        kind = data[pos : pos + 4].decode("latin-1")
        pos += 8 + length + (length & 1)
        _need(pos <= len(data), f"the WebP file is truncated (its {kind!r} chunk is cut)")


def check_bmp(data: bytes) -> None:
    """BMP: the file size in BITMAPFILEHEADER (when given) is the file's."""
    _need(len(data) > 0, "the file is empty")
    _need(len(data) >= 14 and data[:2] == b"BM", "not a BMP file (no BM header)")
    (size,) = struct.unpack("<I", data[2:6])
    _need(
        size in (0, len(data)),
        f"the BMP file is truncated or padded: its header announces {size} bytes, the file holds {len(data)}",
    )


def check_j2k_codestream(data: bytes) -> None:
    """A bare JPEG 2000 codestream (ITU-T T.800 Annex A, HTJ2K's too): SOC, the main header's
    marker segments, every tile-part by its Psot length, and EOC as the last two bytes."""
    _need(len(data) > 0, "the codestream is empty")
    _need(data[:4] == b"\xff\x4f\xff\x51", "not a JPEG 2000 codestream (no SOC and SIZ markers)")
    pos = 2
    while True:  # main header: segments with a length
        _need(pos + 4 <= len(data), "the JPEG 2000 codestream is truncated in its main header")
        marker, length = struct.unpack(">HH", data[pos : pos + 4])
        if marker == 0xFF90:
            break
        _need(
            marker >> 8 == 0xFF and length >= 2,
            f"the JPEG 2000 codestream is corrupt (bad marker {marker:#06x})",
        )
        pos += 2 + length
    while marker == 0xFF90:  # tile-parts: SOT Lsot Isot Psot TPsot TNsot
        _need(pos + 12 <= len(data), "the JPEG 2000 codestream is truncated in a tile-part header")
        (psot,) = struct.unpack(">I", data[pos + 6 : pos + 10])
        pos = len(data) - 2 if psot == 0 else pos + psot  # 0: the last tile-part, up to EOC
        _need(
            pos + 2 <= len(data),
            f"the JPEG 2000 codestream is truncated (a tile-part announces "
            f"{psot} bytes that the file does not hold)",
        )
        (marker,) = struct.unpack(">H", data[pos : pos + 2])
    _need(
        marker == 0xFFD9 and pos + 2 == len(data),
        "the JPEG 2000 codestream is corrupt or truncated (no EOC marker after the last tile-part)",
    )


def check_boxes(data: bytes, first: bytes = b"ftyp") -> None:
    """An ISO base media file (ISO/IEC 14496-12 §4.2: HEIF, AVIF, the JPEG XL container): the
    top-level boxes' sizes cover the file exactly, starting with a ``first`` box."""
    _need(len(data) > 0, "the file is empty")
    _need(data[4:8] == first, f"not an ISO media file (it does not start with a {first.decode()!r} box)")
    pos = 0
    while pos < len(data):
        _need(pos + 8 <= len(data), "the file is truncated (a box header is cut)")
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        kind = kind.decode("latin-1")
        if size == 1:
            _need(pos + 16 <= len(data), "the file is truncated (a box header is cut)")
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        elif size == 0:  # the last box, up to the end of the file
            size = len(data) - pos
        _need(
            size >= 8 and pos + size <= len(data),
            f"the file is truncated or corrupt (its {kind!r} box announces {size} bytes, "
            f"{len(data) - pos} are left)",
        )
        pos += size


JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"


def check_jpegxl(data: bytes) -> None:
    """JPEG XL (ISO/IEC 18181-1/-2): a bare codestream (libjxl reports one cut short as needing
    more input) or the box container, checked by its box sizes."""
    _need(len(data) > 0, "the codestream is empty")
    if data.startswith(JXL_CONTAINER):
        check_boxes(data, b"JXL ")
    else:
        _need(data[:2] == b"\xff\x0a", "not a JPEG XL codestream (no FF0A signature)")


def _read_ue7(data: bytes, pos: int, field: str) -> tuple[int, int]:
    """One ue7(32) number of a BPG header at ``pos``: groups of 7 bits, most significant first, the
    top bit set on every byte but the last, at most 5 bytes (bpg_spec.txt). Returns the value
    and the position after it."""
    value = 0
    for end in range(pos, min(pos + 5, len(data))):
        value = (value << 7) | (data[end] & 0x7F)
        if not data[end] & 0x80:
            return value, end + 1
    _need(pos + 5 <= len(data), f"the BPG file is truncated in its header ({field})")
    raise IncompleteStream(f"the BPG header's {field} is malformed (over 5 bytes)")


def _write_ue7(value: int) -> bytes:
    groups = [value & 0x7F]
    while value >> 7:
        value >>= 7
        groups.append(0x80 | (value & 0x7F))
    return bytes(reversed(groups))


def _bpg_layout(data: bytes) -> tuple[int, int, int, int]:
    """Where a BPG file's picture_data_length field starts and ends, its value, and where the
    picture data it counts starts (after the extension data, if any), as libbpg's decoder
    reads them (bellard.org/bpg/bpg_spec.txt, ``heic_file()``)."""
    _need(len(data) > 0, "the file is empty")
    _need(data[:4] == b"BPG\xfb" and len(data) > 6, "not a BPG file (no BPG signature)")
    extension_present = bool(data[5] & 0x08)  # color_space(4) extension_present_flag(1) ...
    _, pos = _read_ue7(data, 6, "picture_width")
    _, pos = _read_ue7(data, pos, "picture_height")
    field_start = pos
    length, field_end = _read_ue7(data, pos, "picture_data_length")
    start = field_end
    if extension_present:
        extension_length, start = _read_ue7(data, start, "extension_data_length")
        _need(extension_length <= len(data) - start, "the BPG file is truncated in its extension data")
        start += extension_length
    return field_start, field_end, length, start


def check_bpg(data: bytes) -> None:
    """BPG (bellard.org/bpg/bpg_spec.txt): the header's picture_data_length equals the bytes of
    picture data that follow the header.

    ``bpgenc`` writes 0 there, which the specification reads as "up to the end of the file": a
    file cut anywhere in its picture data is then a valid BPG file, and libbpg's ``bpgdec``
    decodes what is left and exits 0 (seen with libbpg 0.9.8). Such a file is refused; evalkit's
    ``bpg`` codec fills the field in (:func:`with_bpg_length`), which libbpg reads and checks."""
    _, _, length, start = _bpg_layout(data)
    _need(
        length > 0,
        "the BPG header's picture_data_length is 0 (the picture data runs to the end of the "
        "file, as bpgenc writes it), so a cut file cannot be told from a whole one: fill the "
        "length in with evalkit.formats.with_bpg_length, or encode with evalkit's bpg codec",
    )
    left = len(data) - start
    _need(
        length <= left,
        f"the BPG file is truncated: its header announces {length} bytes of picture data, {left} are left",
    )
    _need(length == left, f"the BPG file has {left - length} bytes after its picture data")


def with_bpg_length(data: bytes) -> bytes:
    """``bpgenc``'s file with its picture_data_length filled in: the same picture data, a header
    1–4 bytes longer, still a BPG file by the specification, and one whose end
    :func:`check_bpg` (and libbpg's decoder, which refuses a picture_data_length running past the
    end) can check. A file whose length is already set is returned as it is."""
    field_start, field_end, length, start = _bpg_layout(data)
    if length:
        return data
    return data[:field_start] + _write_ue7(len(data) - start) + data[field_end:]
