"""Finding rosbag2 bags on disk and streaming their raw messages (MCAP or sqlite3).

Complete bags are read through the `rosbags` library. A bag that a killed recorder left
behind (no metadata.yaml, an MCAP file without footer) is read up to its last complete
chunk with a warning; nothing that reached the disk intact is dropped. A damaged bag never
raises anything but BagError: `rosbags` raises many exception types on damaged input
(struct.error, sqlite3.DatabaseError, TypeError from a malformed metadata.yaml, codec
errors), so every failure of it is caught here, reported, and the bag is read another way
where there is one (storage files without metadata.yaml; MCAP files by the tolerant scanner).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from m3po_learning.datasets.errors import BagError
from m3po_learning.datasets.mcap_scan import McapScan
from m3po_learning.datasets.topic_map import BagTopic
from m3po_learning.yaml_io import short_repr

log = logging.getLogger(__name__)

STORAGE_SUFFIXES = (".mcap", ".db3")


@dataclass(frozen=True)
class BagSource:
    """One bag: a rosbag2 directory, or a bare storage file."""

    path: Path  # bag directory or storage file
    files: tuple[Path, ...]  # storage files, in order
    has_metadata: bool  # metadata.yaml present (the recorder closed cleanly)

    @property
    def name(self) -> str:
        """The bag's path as a string, for messages."""
        return str(self.path)


def _storage_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in STORAGE_SUFFIXES)


def _as_bag(path: Path) -> BagSource | None:
    if path.is_file():
        return BagSource(path, (path,), False) if path.suffix in STORAGE_SUFFIXES else None
    if (path / "metadata.yaml").is_file():
        return BagSource(path, tuple(_storage_files(path)), True)
    files = _storage_files(path)
    return BagSource(path, tuple(files), False) if files else None


def find_bags(paths: Sequence[str | Path]) -> list[BagSource]:
    """Bags named by `paths`: bag directories, storage files, or directories of bags.

    A directory that is not itself a bag contributes every bag directly inside it, sorted
    by name (a learner's watched directory). Raises BagError when a path holds no bag.
    """
    if not paths:
        raise BagError("no bag given")
    out: list[BagSource] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise BagError(f"bag path {str(raw)!r} does not exist")
        bag = _as_bag(path)
        if bag is not None:
            out.append(bag)
            continue
        if path.is_file():
            raise BagError(f"{path} is not a rosbag2 storage file (expected {STORAGE_SUFFIXES})")
        inner = [b for p in sorted(path.iterdir()) if (b := _as_bag(p)) is not None]
        if not inner:
            raise BagError(
                f"{path} holds no rosbag2 bag (no metadata.yaml, no {'/'.join(STORAGE_SUFFIXES)} "
                "files, no bag directories)"
            )
        out.extend(inner)
    return out


@dataclass
class _Part:
    """One storage file opened either by rosbags or by the tolerant MCAP scanner."""

    path: Path
    reader: object = None  # rosbags Reader
    scan: McapScan | None = None
    topic_ids: dict[str, list] = field(default_factory=dict)  # topic -> connections / channel ids


class OpenBag:
    """A bag opened for reading: its topics, and a stream of raw messages per topic."""

    def __init__(self, source: BagSource):
        self.source = source
        self.warnings: list[str] = []
        self.topics: dict[str, BagTopic] = {}
        self.storage = ""
        self._parts: list[_Part] = []

    # -- context --------------------------------------------------------------------------------
    def __enter__(self) -> OpenBag:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close every opened storage file; safe to call twice or on a half-open bag."""
        for part in self._parts:
            if part.reader is not None:
                try:
                    part.reader.close()
                except Exception:  # noqa: BLE001 - closing a half-open reader must not mask errors
                    pass
        self._parts.clear()

    def warn(self, text: str) -> None:
        """Record `text` in `warnings` (shown in the read summary) and log it."""
        self.warnings.append(text)
        log.warning("%s", text)

    # -- opening --------------------------------------------------------------------------------
    def _open(self) -> None:
        from rosbags.rosbag2 import Reader

        src = self.source
        if not src.files:
            raise BagError(f"bag {src.name}: metadata.yaml lists no storage file that exists")
        if src.path.is_dir() and not src.has_metadata:
            self.warn(
                f"bag {src.name} has no metadata.yaml (recorder killed before it closed?); "
                f"reading its storage files {[f.name for f in src.files]} directly"
            )
        if src.has_metadata:
            try:
                reader = Reader(src.path)
                reader.open()
                self._parts.append(self._from_reader(src.path, reader))
                self.storage = "mcap" if src.files[0].suffix == ".mcap" else "sqlite3"
                return
            except Exception as exc:  # noqa: BLE001 - rosbags raises any type on a damaged bag
                self.close()
                self.topics.clear()  # what a half-read metadata.yaml listed
                self.warn(
                    f"bag {src.name}: rosbags cannot open it ({type(exc).__name__}: {exc}); "
                    "reading its storage files one by one"
                )
        for f in src.files:
            self._parts.append(self._open_file(f))
        self.storage = "mcap" if src.files[0].suffix == ".mcap" else "sqlite3"

    def _open_file(self, f: Path) -> _Part:
        from rosbags.rosbag2 import Reader

        if f.stat().st_size == 0:
            raise BagError(f"bag {self.source.name}: storage file {f.name} is empty (0 bytes)")
        topics_before = dict(self.topics)
        try:
            reader = Reader(f)
            reader.open()
            return self._from_reader(f, reader)
        except Exception as exc:  # noqa: BLE001 - rosbags raises any type on a damaged file
            self.topics = topics_before  # drop what a half-read file listed
            if f.suffix != ".mcap":
                raise BagError(
                    f"bag {self.source.name}: cannot read {f.name}: {type(exc).__name__}: {exc}"
                ) from exc
            reason = f"{type(exc).__name__}: {exc}"
        scan = McapScan(f)
        part = _Part(f, scan=scan)
        for cid, (topic, _, enc) in scan.channels.items():
            if enc != "cdr":
                continue
            part.topic_ids.setdefault(topic, []).append(cid)
            self._add_topic(topic, scan.msgtype(cid), scan.counts[cid], msgdef=scan.msgdef(cid))
        total = sum(scan.counts.values())
        if scan.complete:
            self.warn(
                f"bag {self.source.name}: {f.name} is unindexed ({reason}); scanned "
                f"{total} messages"
            )
        else:
            self.warn(
                f"bag {self.source.name}: {f.name} is truncated ({reason}); read {total} "
                f"messages up to its last complete chunk (byte {scan.valid_bytes} of "
                f"{f.stat().st_size}): {scan.stop_reason}"
            )
        return part

    def _from_reader(self, path: Path, reader) -> _Part:
        """The part of an opened rosbags reader; closes the reader when its topics are bad."""
        part = _Part(path, reader=reader)
        try:
            for conn in reader.connections:
                if not isinstance(conn.topic, str) or not isinstance(conn.msgtype, str):
                    raise BagError(
                        f"bag {self.source.name}: {path.name} lists a topic with a malformed "
                        f"name or type: {short_repr(conn.topic)} [{short_repr(conn.msgtype)}]"
                    )
                # a count from a damaged metadata.yaml may be anything: then it is unknown
                count = conn.msgcount
                if isinstance(count, bool) or not isinstance(count, int):
                    count = -1
                part.topic_ids.setdefault(conn.topic, []).append(conn)
                data = conn.msgdef.data if isinstance(conn.msgdef.data, str) else ""
                msgdef = (conn.msgdef.format.name.lower(), data)
                self._add_topic(conn.topic, conn.msgtype, count, msgdef=msgdef)
        except BaseException:
            try:
                reader.close()
            except Exception:  # noqa: BLE001 - closing a half-open reader must not mask errors
                pass
            raise
        return part

    def _add_topic(self, topic: str, msgtype: str, count: int, msgdef) -> None:
        old = self.topics.get(topic)
        if old is not None:
            if old.msgtype != msgtype:
                raise BagError(
                    f"bag {self.source.name}: topic {topic} carries two types, "
                    f"{old.msgtype} and {msgtype}"
                )
            count = old.count + count if old.count >= 0 and count >= 0 else -1
        self.topics[topic] = BagTopic(topic, msgtype, count, {"msgdef": msgdef})

    # -- reading --------------------------------------------------------------------------------
    def count(self, topics: Sequence[str]) -> int:
        """Messages on `topics` (from indexes or the scan)."""
        return sum(max(self.topics[t].count, 0) for t in topics if t in self.topics)

    def messages(self, topics: Sequence[str]) -> Iterator[tuple[str, int, bytes]]:
        """(topic, log time ns, CDR bytes) for `topics`, file by file (not globally sorted).

        A storage file that fails part way (a damaged chunk, page or record) ends its stream
        there with a warning; the messages before the damage are kept.
        """
        wanted = set(topics)
        for part in self._parts:
            if part.scan is not None:
                ids = {cid: t for t, cids in part.topic_ids.items() if t in wanted for cid in cids}
                for cid, t_ns, raw in part.scan.messages(ids):
                    yield ids[cid], t_ns, raw
                continue
            conns = [c for t, cs in part.topic_ids.items() if t in wanted for c in cs]
            if not conns:
                continue
            try:
                for conn, t_ns, raw in part.reader.messages(connections=conns):
                    yield conn.topic, t_ns, raw
            except Exception as exc:  # noqa: BLE001 - rosbags raises any type on a damaged file
                self.warn(
                    f"bag {self.source.name}: reading {part.path.name} stopped early: "
                    f"{type(exc).__name__}: {exc}"
                )
