"""Every ingest of a source is a version: a JSON snapshot of its chunks under DATA_DIR/knowledge/.

Snapshots hold chunk texts, not vectors: a rollback re-applies a snapshot through the same diff as an
ingest, so only chunks that differ from what is stored get embedded again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sync.models import Chunk


@dataclass(frozen=True)
class SourceVersion:
    source_id: str
    version: int
    created_at: float
    chunk_count: int
    title: str
    knowledge_type: str
    origin: str = ""  # file name, Feishu doc token, ...
    note: str = ""


class VersionRegistry:
    """Blocking file I/O: async callers use asyncio.to_thread."""

    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir) / "knowledge"

    def _dir(self, source_id: str) -> Path:
        digest = hashlib.sha1(source_id.encode()).hexdigest()[:10]
        return self.root / (re.sub(r"[^A-Za-z0-9_.-]", "_", source_id)[:80] + "-" + digest)

    def _index_path(self, source_id: str) -> Path:
        return self._dir(source_id) / "versions.json"

    def _read_index(self, source_id: str) -> dict:
        path = self._index_path(source_id)
        if not path.exists():
            return {"source_id": source_id, "current": 0, "versions": []}
        return json.loads(path.read_text("utf-8"))

    def _write_index(self, source_id: str, index: dict) -> None:
        path = self._index_path(source_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(index, ensure_ascii=False, indent=1), "utf-8")
        tmp.replace(path)  # atomic: a crash never leaves a half-written index

    def register(self, source_id: str, chunks: list[Chunk], *, title: str, knowledge_type: str,
                 origin: str = "", note: str = "") -> SourceVersion:
        index = self._read_index(source_id)
        number = max((v["version"] for v in index["versions"]), default=0) + 1
        version = SourceVersion(source_id, number, time.time(), len(chunks), title, knowledge_type, origin, note)
        snapshot = self._dir(source_id) / f"v{number}.json.gz"
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        rows = [{**asdict(c), "headings": list(c.headings)} for c in chunks]
        with gzip.open(snapshot, "wt", encoding="utf-8") as fh:
            json.dump(rows, fh, ensure_ascii=False)
        index["versions"].append(asdict(version))
        index["current"] = number
        self._write_index(source_id, index)
        return version

    def versions(self, source_id: str) -> list[SourceVersion]:
        return [SourceVersion(**v) for v in self._read_index(source_id)["versions"]]

    def current(self, source_id: str) -> int:
        return int(self._read_index(source_id)["current"])

    def set_current(self, source_id: str, version: int) -> None:
        index = self._read_index(source_id)
        index["current"] = version
        self._write_index(source_id, index)

    def load(self, source_id: str, version: int) -> list[Chunk]:
        snapshot = self._dir(source_id) / f"v{version}.json.gz"
        if not snapshot.exists():
            raise KeyError(f"{source_id} has no version {version}")
        with gzip.open(snapshot, "rt", encoding="utf-8") as fh:
            rows = json.load(fh)
        return [Chunk(**{**row, "headings": tuple(row["headings"])}) for row in rows]

    def forget(self, source_id: str) -> None:
        index = self._read_index(source_id)
        index["current"] = 0
        self._write_index(source_id, index)

    def sources(self) -> list[dict]:
        if not self.root.exists():
            return []
        out = []
        for path in sorted(self.root.glob("*/versions.json")):
            index = json.loads(path.read_text("utf-8"))
            if index["versions"]:
                latest = index["versions"][-1]
                out.append({"source_id": index["source_id"], "current_version": index["current"],
                            "versions": len(index["versions"]), "title": latest["title"],
                            "knowledge_type": latest["knowledge_type"], "origin": latest["origin"]})
        return out
