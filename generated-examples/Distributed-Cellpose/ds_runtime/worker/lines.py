"""A tool's output, bytes as they come, cut into lines in bounded memory, however long a line is.

Each line goes out twice: whole, in pieces of at most `piece_bytes` (the job's log stream
keeps every byte), and shown: its first SHOWN_BYTES with a marker saying how much was cut
(the worker's stdout and the outcome record's tail stay readable). Memory held: one piece
and the shown start, whatever the line's length (a 50 MB line without a newline included).
"""

from __future__ import annotations

from collections.abc import Callable

SHOWN_BYTES = 2000


def utf8_cut(data: bytes | bytearray, limit: int) -> int:
    """The largest cut at or below `limit` that splits no UTF-8 character (continuation bytes are 10xxxxxx)."""
    cut = min(limit, len(data))
    while 0 < cut < len(data) and data[cut] & 0xC0 == 0x80 and cut > limit - 4:
        cut -= 1
    return cut


class Lines:
    def __init__(self, shown: Callable[[str], None], piece: Callable[[str], None], piece_bytes: int):
        self._shown, self._piece, self._piece_bytes = shown, piece, piece_bytes
        self._start = bytearray()  # the line's first SHOWN_BYTES
        self._pending = bytearray()  # the line's bytes not yet sent as a piece
        self._length = 0  # the line's length so far

    def feed(self, data: bytes) -> None:
        at = 0
        while at < len(data):
            end = data.find(b"\n", at)
            self._add(data[at : len(data) if end < 0 else end])
            if end < 0:
                return
            self._end_line()
            at = end + 1

    def finish(self) -> None:
        """End a last line that had no newline."""
        if self._length:
            self._end_line()

    def _add(self, part: bytes) -> None:
        if len(self._start) < SHOWN_BYTES:
            self._start += part[: SHOWN_BYTES - len(self._start)]
        self._length += len(part)
        self._pending += part
        while len(self._pending) > self._piece_bytes:
            cut = utf8_cut(self._pending, self._piece_bytes)
            self._piece(self._pending[:cut].decode(errors="replace"))
            del self._pending[:cut]

    def _end_line(self) -> None:
        if self._pending.endswith(b"\r"):  # CRLF output: the line ends before it
            del self._pending[-1:]
            self._length -= 1
        text = self._pending.decode(errors="replace")
        if text or self._length <= self._piece_bytes:  # an empty line is one too; an emptied remainder is not
            self._piece(text)
        shown = self._start[: utf8_cut(self._start, SHOWN_BYTES)].decode(errors="replace").rstrip("\r")
        cut = self._length - len(self._start)
        self._shown(f"{shown} [... {cut:,} more bytes cut: the whole line is in the job's log]" if cut > 0 else shown)
        self._start, self._pending, self._length = bytearray(), bytearray(), 0
