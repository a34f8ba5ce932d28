"""The file a learned codec writes: one self-describing bitstream per image.

Layout (integers little-endian, ``varint`` = LEB128)::

    magic "EK" | format version (u8) | model name (u8 length + UTF-8) | checkpoint hash (4 bytes)
    | height, width (varint) | rate parameters (u8 count + float32 each)
    | coded strings (u8 count + varint length + bytes each) | CRC-32 of everything before (u32)

The rate parameters are what the decoder must know besides the model (quality, gain, λ and Δ);
the strings are the entropy coder's output, as CompressAI's ``compress`` returns them. The whole
file is counted in bpp. The CRC makes a corrupt file an error instead of a wrong image.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .base import CodecError

MAGIC = b"EK"
VERSION = 1
HASH_BYTES = 4


@dataclass(frozen=True)
class Bitstream:
    model: str  # the codec name that wrote it
    checkpoint: bytes  # first HASH_BYTES of the checkpoint's SHA-256
    height: int
    width: int
    params: tuple[float, ...]  # rate parameters, as float32 values
    strings: tuple[bytes, ...]  # one per latent (y, z, ...)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def float32(value: float) -> float:
    """``value`` as the header stores it, so encoder and decoder use the very same number."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def pack(stream: Bitstream) -> bytes:
    name = stream.model.encode()
    if len(name) > 255 or len(stream.params) > 255 or len(stream.strings) > 255:
        raise ValueError("model name, parameter list and string list must each be under 256")
    if len(stream.checkpoint) != HASH_BYTES:
        raise ValueError(f"checkpoint hash must be {HASH_BYTES} bytes")
    body = b"".join(
        [
            MAGIC,
            bytes([VERSION, len(name)]),
            name,
            stream.checkpoint,
            _varint(stream.height),
            _varint(stream.width),
            bytes([len(stream.params)]),
            struct.pack(f"<{len(stream.params)}f", *stream.params),
            bytes([len(stream.strings)]),
            *(_varint(len(s)) + s for s in stream.strings),
        ]
    )
    return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
    def __init__(self, data: bytes, what: str):
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CodecError(f"{self.what}: bitstream is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value
            if shift > 35:
                raise CodecError(f"{self.what}: bitstream is corrupt (bad length field)")


def unpack(data: bytes, what: str = "learned codec") -> Bitstream:
    """Parse and check a bitstream; anything malformed raises :class:`CodecError`."""
    if not data:
        raise CodecError(f"{what}: bitstream is empty")
    if data[:2] != MAGIC:
        raise CodecError(f"{what}: not an evalkit learned-codec bitstream (no 'EK' signature)")
    if len(data) < 3 + 4:
        raise CodecError(f"{what}: bitstream is truncated")
    if data[2] != VERSION:
        raise CodecError(f"{what}: bitstream format version {data[2]}; this evalkit reads version {VERSION}")
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    if zlib.crc32(body) != crc:
        raise CodecError(f"{what}: bitstream is corrupt or truncated (checksum mismatch)")
    r = _Reader(body, what)
    r.take(3)
    model = r.take(r.take(1)[0]).decode("utf-8", errors="replace")
    checkpoint = r.take(HASH_BYTES)
    height, width = r.varint(), r.varint()
    n = r.take(1)[0]
    params = struct.unpack(f"<{n}f", r.take(4 * n))
    strings = tuple(r.take(r.varint()) for _ in range(r.take(1)[0]))
    if r.pos != len(body):
        raise CodecError(f"{what}: bitstream is corrupt ({len(body) - r.pos} stray bytes)")
    if not (height and width):
        raise CodecError(f"{what}: bitstream is corrupt (image size {height}×{width})")
    return Bitstream(model, checkpoint, height, width, tuple(params), strings)
