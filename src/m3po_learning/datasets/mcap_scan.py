"""Tolerant MCAP scanner for files a killed recorder left without footer or index.

Reads records front to back (MCAP spec: magic, then `opcode u8, length u64, body` records)
and stops at the first record that is cut off, fails its CRC or does not parse (a field
that runs past its record, a string that is not UTF-8), so every complete chunk before that
point is kept. Used only when the indexed reader of `rosbags` refuses a file.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from m3po_learning.datasets.errors import BagError

MAGIC = b"\x89MCAP0\r\n"
OP_HEADER, OP_FOOTER, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_DATA_END = (
    0x01,
    0x02,
    0x03,
    0x04,
    0x05,
    0x06,
    0x0F,
)
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_MSG_HEAD = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time
_CHANNEL_HEAD = struct.Struct("<HH")  # channel id, schema id
_CHUNK_HEAD = struct.Struct("<QQQI")  # start time, end time, uncompressed size, crc


class _Malformed(Exception):
    """A record whose fields run past its end or do not decode (the file is damaged there)."""


def _unpack(fmt: struct.Struct, buf, pos: int, stop: int) -> tuple:
    """`fmt` unpacked at `pos`, which must lie inside the record ending at `stop`."""
    if pos + fmt.size > stop:
        raise _Malformed(f"a {fmt.size}-byte field at byte {pos} runs past the record's end")
    return fmt.unpack_from(buf, pos)


def _string(buf, pos: int, stop: int) -> tuple[str, int]:
    (n,) = _unpack(_U32, buf, pos, stop)
    pos += 4
    if pos + n > stop:
        raise _Malformed(f"a {n}-byte string at byte {pos} runs past the record's end")
    try:
        return bytes(buf[pos : pos + n]).decode(), pos + n
    except UnicodeDecodeError as exc:
        raise _Malformed(f"the string at byte {pos} is not UTF-8 ({exc})") from exc


def _decompress(data, compression: str, size: int) -> bytes:
    if compression == "":
        return bytes(data)
    if compression == "zstd":
        try:
            from compression import zstd  # type: ignore[import-not-found]  # Python >= 3.14
        except ImportError:
            from backports import zstd
        return zstd.decompress(bytes(data))
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.decompress(bytes(data))
    raise BagError(f"MCAP chunk compression {compression!r} is not supported (zstd, lz4, none)")


@dataclass
class McapScan:
    """Schemas, channels and message counts of a (possibly truncated) MCAP file."""

    path: Path
    schemas: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # id -> name, enc, text
    channels: dict[int, tuple[str, int, str]] = field(
        default_factory=dict
    )  # id -> topic, schema, enc
    counts: Counter = field(default_factory=Counter)  # channel id -> messages
    complete: bool = False  # a footer was reached
    stop_reason: str = ""  # why scanning stopped early
    valid_bytes: int = 0  # offset just past the last complete record

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        size = self.path.stat().st_size
        if size == 0:
            raise BagError(f"bag file {self.path} is empty (0 bytes)")
        with open(self.path, "rb") as fh:
            head = fh.read(len(MAGIC))
        if head != MAGIC:
            raise BagError(f"bag file {self.path} is not MCAP (bad magic {head!r})")
        for _ in self._records(wanted=None):
            pass
        if not self.complete and not self.stop_reason:
            self.stop_reason = "the file ends after its last complete record, with no footer"

    def msgtype(self, channel_id: int) -> str:
        """Message type of a channel's schema, e.g. "sensor_msgs/msg/JointState" ("": none)."""
        schema_id = self.channels[channel_id][1]
        return self.schemas.get(schema_id, ("",))[0]

    def msgdef(self, channel_id: int) -> tuple[str, str]:
        """(encoding, text) of a channel's schema, e.g. ("ros2msg", "float64[] data")."""
        _, enc, text = self.schemas.get(self.channels[channel_id][1], ("", "", ""))
        return enc, text

    def messages(self, channel_ids: Collection[int]) -> Iterator[tuple[int, int, bytes]]:
        """(channel id, log time ns, CDR bytes) of the chosen channels, in file order."""
        return self._records(wanted=set(channel_ids))

    # -- parsing --------------------------------------------------------------------------------
    def _records(self, wanted: set[int] | None) -> Iterator[tuple[int, int, bytes]]:
        counting = wanted is None
        with open(self.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            buf = memoryview(mm)
            try:
                yield from self._walk(buf, len(MAGIC), len(buf), wanted, counting, top=True)
            finally:
                buf.release()

    def _walk(self, buf, pos: int, end: int, wanted, counting: bool, top: bool):
        while pos < end:
            if end - pos < 9:
                if top:
                    self._stop(pos, f"{end - pos} trailing bytes, too short for a record")
                return
            op = buf[pos]
            (length,) = _U64.unpack_from(buf, pos + 1)
            body = pos + 9
            if body + length > end:
                if top:
                    self._stop(
                        pos,
                        f"record 0x{op:02x} at byte {pos} needs {length} bytes, {end - body} left",
                    )
                return
            stop = body + length
            if op == OP_FOOTER:
                if top and counting:
                    self.complete = True
                    self.valid_bytes = stop
                return
            if not top:  # inside a chunk: a malformed record fails the chunk (caught above)
                yield from self._record(buf, op, body, stop, wanted, counting)
            else:
                try:
                    if op == OP_CHUNK:
                        inner = self._chunk(buf, body, stop, pos)
                        if inner is None:
                            return
                        yield from self._walk(
                            memoryview(inner), 0, len(inner), wanted, counting, top=False
                        )
                    else:
                        yield from self._record(buf, op, body, stop, wanted, counting)
                except _Malformed as exc:
                    self._stop(pos, f"record 0x{op:02x} at byte {pos} is malformed: {exc}")
                    return
            pos = stop
            if top and counting:
                self.valid_bytes = pos

    def _record(self, buf, op: int, body: int, stop: int, wanted, counting: bool):
        """Parse one message, schema or channel record in [body, stop); others are skipped.

        Raises _Malformed when a field runs past `stop` or a string is not UTF-8.
        """
        if op == OP_MESSAGE:
            cid, _, log_ns, _ = _unpack(_MSG_HEAD, buf, body, stop)
            if counting:
                self.counts[cid] += 1
            elif cid in wanted:
                yield cid, log_ns, bytes(buf[body + _MSG_HEAD.size : stop])
        elif op == OP_SCHEMA and counting:
            (sid,) = _unpack(_U16, buf, body, stop)
            name, p = _string(buf, body + 2, stop)
            enc, p = _string(buf, p, stop)
            text, _ = _string(buf, p, stop)
            self.schemas[sid] = (name, enc, text)
        elif op == OP_CHANNEL and counting:
            cid, sid = _unpack(_CHANNEL_HEAD, buf, body, stop)
            topic, p = _string(buf, body + 4, stop)
            enc, p = _string(buf, p, stop)
            self.channels[cid] = (topic, sid, enc)

    def _chunk(self, buf, body: int, stop: int, pos: int) -> bytes | None:
        _, _, size, crc = _unpack(_CHUNK_HEAD, buf, body, stop)
        compression, p = _string(buf, body + _CHUNK_HEAD.size, stop)
        (n,) = _unpack(_U64, buf, p, stop)
        p += 8
        if p + n > stop:
            self._stop(pos, f"chunk at byte {pos} claims {n} bytes beyond its record")
            return None
        try:
            raw = _decompress(buf[p : p + n], compression, size)
        except BagError:
            raise
        except Exception as exc:  # noqa: BLE001 - any codec failure means a damaged chunk
            self._stop(pos, f"chunk at byte {pos} does not decompress: {exc}")
            return None
        if len(raw) != size or (crc and zlib.crc32(raw) != crc):
            self._stop(pos, f"chunk at byte {pos} fails its size/CRC check")
            return None
        return raw

    def _stop(self, pos: int, reason: str) -> None:
        if not self.stop_reason:
            self.stop_reason = reason
            self.valid_bytes = pos
