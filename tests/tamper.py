"""Building damaged and hostile .b2b files for the tests, the way a person (or a faulty tool) would."""
from __future__ import annotations

import io
import json
import zipfile

from byte2bit.integrity import MANIFEST_KEY, crc32, manifest_document


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist()}


def rezip(data: bytes, replace: dict[str, bytes | None], manifest: bool = True,
          method: int = zipfile.ZIP_STORED) -> bytes:
    """The same archive with some entries replaced (or removed, for None). With ``manifest`` the
    manifest is rewritten to match, as a writer that means harm (or a buggy one) would: only the
    content checks are left to catch the change."""
    keys = entries(data)
    for key, value in replace.items():
        if value is None:
            keys.pop(key, None)
        else:
            keys[key] = value
    if manifest and MANIFEST_KEY in keys:
        keys.pop(MANIFEST_KEY)
        keys[MANIFEST_KEY] = manifest_document({k: (len(v), crc32(v)) for k, v in keys.items()})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for key, value in keys.items():
            z.writestr(key, value)
    return out.getvalue()


def root_json(data: bytes, group: str = "") -> dict:
    return json.loads(entries(data)[f"{group}/zarr.json" if group else "zarr.json"])


def with_root(data: bytes, root: dict, manifest: bool = True) -> bytes:
    return rezip(data, {"zarr.json": json.dumps(root).encode()}, manifest)


def flip_stored_bit(data: bytes, key: str, offset: int, bit: int = 0) -> bytes:
    """Flips one bit inside a stored entry's data, leaving the zip structure (and its CRC) as is."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(key)
    name_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    out = bytearray(data)
    out[info.header_offset + 30 + name_len + extra_len + offset] ^= 1 << bit
    return bytes(out)


def stream_layout(stream: bytes) -> dict:
    """Where a stream's fields sit (codec/FORMAT.md 1.1 and 1.2), read the way the format describes
    them, for tests that look inside or edit a stream: version, flags, header size, and the method
    of a lanes block that follows the header directly (no reserved values, exceptions or lattice)."""
    version = stream[4]
    if version < 6:
        ndim = stream[8]
        size = 40 + 8 * ndim
        return {"version": version, "flags": stream[7], "header_size": size, "method": stream[size + 1]}
    dtype, flags, ndim = stream[13], stream[15], stream[16]
    at = 17

    def varint():
        nonlocal at
        value = shift = 0
        while True:
            byte = stream[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    for _ in range(1 + ndim):  # payload size, then the shape
        varint()
    if dtype == 15:  # bytes: their item size
        varint()
    at += (1 if flags & 2 else 0) + (8 if flags & 1 else 0)  # decimal digits, quantize scale
    return {"version": version, "flags": flags, "header_size": at, "method": stream[at + 1]}
