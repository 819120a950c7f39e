"""The stream of one table: COPY text in, gzip out, with the sha256 and size of what went through;
and back: gzip in, COPY text out, in pieces of bounded size whatever the compression ratio.

Both sides work on chunks and hold no more than one chunk (and zlib's window): a table of any size
streams through in constant memory."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator

GZIP_WBITS = 16 + zlib.MAX_WBITS
OUT_CHUNK = 1024 * 1024
"""The most a decoder hands out at once (a small compressed chunk may expand a thousandfold)."""


class CorruptData(ValueError):
    """A compressed stream that does not decode, ends early, or does not match its checksum."""


class Digest:
    """The sha256 and row count of a COPY text stream (COPY text ends every row with a newline and
    escapes the newlines inside values)."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.rows = 0
        self.raw_bytes = 0

    def feed(self, data: bytes | bytearray) -> None:
        self._sha.update(data)
        self.rows += data.count(b"\n")
        self.raw_bytes += len(data)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


class Encoder:
    """COPY text in, gzip out, digested on the way."""

    def __init__(self, level: int) -> None:
        self.digest = Digest()
        self._zlib = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)

    def feed(self, data: bytes | bytearray) -> bytes:
        self.digest.feed(data)
        return self._zlib.compress(data)

    def finish(self) -> bytes:
        return self._zlib.flush()

    @property
    def rows(self) -> int:
        return self.digest.rows

    @property
    def sha256(self) -> str:
        return self.digest.sha256


class Decoder:
    """gzip in, COPY text out in pieces of at most OUT_CHUNK bytes, hashed and counted; `finish`
    checks the stream ended where gzip says it does."""

    def __init__(self) -> None:
        self.digest = Digest()
        self._zlib = zlib.decompressobj(GZIP_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while pending:
            if self._zlib.eof:
                raise CorruptData("data after the end of the compressed stream")
            try:
                out = self._zlib.decompress(pending, OUT_CHUNK)
            except zlib.error as exc:
                raise CorruptData(f"the compressed stream does not decode ({exc})") from exc
            pending = self._zlib.unconsumed_tail or self._zlib.unused_data
            if out:
                self.digest.feed(out)
                yield out
            elif not self._zlib.unconsumed_tail:
                break

    def finish(self) -> None:
        if not self._zlib.eof:
            raise CorruptData("the compressed stream ends early (truncated object)")
        if self._zlib.unused_data:
            raise CorruptData("data after the end of the compressed stream")

    @property
    def rows(self) -> int:
        return self.digest.rows

    @property
    def sha256(self) -> str:
        return self.digest.sha256


def decode_all(chunks: Iterable[bytes], decoder: Decoder) -> Iterator[bytes]:
    """Every decoded piece of a compressed stream given in chunks, then the end check."""
    for chunk in chunks:
        yield from decoder.feed(chunk)
    decoder.finish()
