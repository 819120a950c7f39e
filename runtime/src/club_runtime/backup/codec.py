"""The stream of one table: COPY text in, gzip out, with the sha256 and size of what went through;
and back: gzip in, COPY text out, in pieces of bounded size whatever the compression ratio.

Both sides work on chunks and hold no more than one chunk (and zlib's window): a table of any size
streams through in constant memory."""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib
from collections.abc import Iterable, Iterator
from typing import TypeVar, cast

T = TypeVar("T")

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


_END = object()


def prefetched(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """`items`, produced on a thread of their own at most `depth` ahead: decompressing and hashing
    (zlib and hashlib let go of the GIL) go on while the caller waits on the database. An error of
    the producer is raised here; leaving early stops it."""
    ahead: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ahead.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            failure.append(exc)
        ahead.put(_END)

    thread = threading.Thread(target=produce, name="backup-decode", daemon=True)
    thread.start()
    try:
        while (item := ahead.get()) is not _END:
            yield cast(T, item)
        if failure:
            raise failure[0]
    finally:
        stop.set()
        while thread.is_alive():
            try:
                ahead.get(timeout=0.1)
            except queue.Empty:
                continue
        thread.join()
