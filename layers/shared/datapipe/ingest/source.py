"""Raw object bytes -> decompressed, line-aligned blocks, streamed with bounded memory.

The object is never held whole: chunks are inflated as they arrive (every concatenated gzip
member, with one limit over all of them), cut into blocks that end on a line feed, and a line
longer than the limit is skipped with a sample kept for its reject record, never buffered whole.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from datapipe.ingest.limits import IngestLimits

GZIP_MAGIC = b"\x1f\x8b"
BOMS_UNSUPPORTED = {
    b"\xff\xfe\x00\x00": "UTF-32 LE",
    b"\x00\x00\xfe\xff": "UTF-32 BE",
    b"\xff\xfe": "UTF-16 LE",
    b"\xfe\xff": "UTF-16 BE",
}
UTF8_BOM = b"\xef\xbb\xbf"
SAMPLE_BYTES = 2_000


class FileRejected(Exception):
    """The whole file cannot be ingested; ``code`` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Block:
    """Whole lines of the decompressed data; ``first_line`` is the 1-based number of its first."""

    first_line: int
    data: bytes


@dataclass
class LongLine:
    """A line over the length limit: only its number, length and first bytes are kept."""

    line: int
    length: int
    sample: bytes


class RawCounter:
    """Counts and hashes the raw (still compressed) bytes as they stream past."""

    def __init__(self) -> None:
        self.bytes = 0
        self._sha = hashlib.sha256()

    def wrap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if chunk:
                self.bytes += len(chunk)
                self._sha.update(chunk)
                yield chunk

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


def _peek(chunks: Iterator[bytes], want: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``want`` bytes (fewer at the end) and an iterator that still yields them."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= want:
            break
    return head, _chain(head, chunks)


def _chain(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


def inflate(chunks: Iterable[bytes], key: str, limits: IngestLimits) -> tuple[str, Iterator[bytes]]:
    """('gzip' | 'none', decompressed chunks). Gzip is found by its magic bytes, whatever the key.

    Errors surface while iterating (a truncated stream is only known at its end): MALFORMED_GZIP,
    or FILE_TOO_LARGE once the inflated total passes ``limits.max_inflated_bytes``.
    """
    head, stream = _peek(iter(chunks), 2)
    if head[:2] != GZIP_MAGIC:
        if key.endswith(".gz"):
            raise FileRejected("MALFORMED_GZIP", f"{key} ends in .gz but is not gzip data")
        return "none", stream
    return "gzip", _gunzip(stream, key, limits.max_inflated_bytes)


def _gunzip(chunks: Iterator[bytes], key: str, limit: int) -> Iterator[bytes]:
    step = 4 * 1024**2  # inflate at most this much per call: a bomb never lands in memory at once
    total = 0
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    carry = b""

    def counted(out: bytes) -> bytes:
        nonlocal total
        total += len(out)
        if total > limit:
            raise FileRejected("FILE_TOO_LARGE", f"{key} inflates to more than {limit:,} bytes")
        return out

    try:
        for chunk in chunks:
            data, carry = carry + chunk, b""
            while data:
                if d.eof:  # a member ended: what follows must be another gzip member
                    if len(data) < 2:
                        carry = data
                        break
                    if data[:2] != GZIP_MAGIC:
                        raise FileRejected(
                            "MALFORMED_GZIP", f"{key}: data after the end of the gzip stream is not gzip"
                        )
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out = d.decompress(data, step)
                if out:
                    yield counted(out)
                data = d.unused_data if d.eof else d.unconsumed_tail
            while not d.eof:  # output zlib still holds for the input it has consumed
                out = d.decompress(b"", step)
                if not out:
                    break
                yield counted(out)
        if carry:
            raise FileRejected("MALFORMED_GZIP", f"{key}: data after the end of the gzip stream is not gzip")
        if not d.eof:
            raise FileRejected("MALFORMED_GZIP", f"{key}: gzip stream is truncated")
    except zlib.error as exc:
        raise FileRejected("MALFORMED_GZIP", f"{key}: cannot inflate gzip data ({exc})") from exc


def check_start(head: bytes, key: str) -> int:
    """Rejects UTF-16/32 byte-order marks; returns how many bytes of UTF-8 BOM to skip."""
    for bom, name in BOMS_UNSUPPORTED.items():
        if head.startswith(bom):
            raise FileRejected("UNREADABLE_ENCODING", f"{key}: {name} byte-order mark; files must be UTF-8")
    return len(UTF8_BOM) if head.startswith(UTF8_BOM) else 0


def blocks(chunks: Iterable[bytes], limits: IngestLimits, skip: int = 0) -> Iterator[Block | LongLine]:
    """Whole-line blocks of about ``limits.batch_bytes`` and the over-long lines between them.

    The first ``skip`` bytes (a UTF-8 BOM) are dropped. A line longer than
    ``limits.max_line_bytes`` that is still inside a block is left for the block's reader to
    reject; one that would not fit a block is consumed here, keeping only a sample.
    """
    target = limits.batch_bytes
    buf = bytearray()
    line = 1  # number of the first line in buf
    skipping: LongLine | None = None  # inside an over-long line: drop until its line feed
    for raw_chunk in chunks:
        chunk = raw_chunk
        if skip:
            cut = min(skip, len(chunk))
            chunk, skip = chunk[cut:], skip - cut
        if skipping is not None:
            nl = chunk.find(b"\n")
            if nl < 0:
                skipping.length += len(chunk)
                continue
            skipping.length += nl
            yield skipping
            line = skipping.line + 1
            skipping = None
            chunk = chunk[nl + 1 :]
        buf += chunk
        if len(buf) < target:
            continue
        cut = buf.rfind(b"\n")
        if cut >= 0:
            data = bytes(buf[: cut + 1])
            del buf[: cut + 1]
            yield Block(line, data)
            line += data.count(b"\n")
        if cut < 0 and len(buf) > max(target, limits.max_line_bytes):
            # one line fills the whole buffer: keep a sample, skip to its end
            skipping = LongLine(line, len(buf), bytes(buf[:SAMPLE_BYTES]))
            buf.clear()
    if skipping is not None:
        yield skipping
    elif buf:
        yield Block(line, bytes(buf))
