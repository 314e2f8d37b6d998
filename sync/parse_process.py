"""Parsing a file a stranger sent, in a child process whose memory and time are capped.

A zip bomb, a PDF with a 70 MB stream or a 100,000-page PDF can cost gigabytes and minutes inside any parser.
Here the parse runs in `python -m sync.parse_process`, with RLIMIT_AS at INGEST_PARSE_MAX_MEMORY_MB and killed
after INGEST_PARSE_TIMEOUT_S; the server waits without blocking its event loop, and its own memory never holds
more than the parsed result. Small text files (which cannot expand) parse in a thread, without the ~0.5 s
start-up of a process.

Parent and child talk through files in a private temporary folder that is always removed: the request as JSON,
the result as a pickle (written by our own child, read only by us).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import resource
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from sync.errors import ConverterMissing, ParseError, SourceError, UnsupportedFileType
from sync.limits import IngestLimits, LimitExceeded
from sync.models import ParsedDocument

# Formats whose size bounds their parse (no decompression): parsed in a thread when the file is this small.
_PLAIN_TEXT = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".jsonl", ".csv"})
_IN_PROCESS_MAX_BYTES = 512 * 1024
# .doc goes through antiword / LibreOffice, separate processes with their own time limit; an address-space
# cap inherited by LibreOffice would stop it from starting at all.
_OWN_CONVERTER = frozenset({".doc"})
_EXIT_MEMORY = 3
_ROOT = str(Path(__file__).resolve().parent.parent)  # the child imports `sync` from here


def runs_in_process(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in _OWN_CONVERTER:
        return True
    try:
        size = path.stat().st_size
    except OSError:
        return True  # parse_file reports the missing file
    return suffix in _PLAIN_TEXT and size <= _IN_PROCESS_MAX_BYTES


async def parse_bounded(path: Path, *, limits: IngestLimits, knowledge_type: str | None = None,
                        source_id: str | None = None) -> ParsedDocument:
    """`sync.parsers.parse_file` with its time and memory capped. Raises what parse_file raises, or
    LimitExceeded (422) naming INGEST_PARSE_TIMEOUT_S or INGEST_PARSE_MAX_MEMORY_MB."""
    path = Path(path)
    if runs_in_process(path):
        from sync.parsers import parse_file

        return await asyncio.to_thread(parse_file, path, knowledge_type=knowledge_type, source_id=source_id,
                                       limits=limits)
    request = {"path": str(path), "knowledge_type": knowledge_type, "source_id": source_id,
               "limits": limits.to_dict()}
    work = await asyncio.to_thread(_prepare, request)
    try:
        returncode, stderr = await _run_child(work / "request.json", limits, path.name)
        outcome = await asyncio.to_thread(_read_result, work)
        if outcome is not None:
            if "document" in outcome:
                return outcome["document"]
            raise error_from_dict(outcome["error"])
        if returncode in (_EXIT_MEMORY, -signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT):
            raise _memory(path.name, limits)
        raise ParseError(path.name, f"the parser stopped unexpectedly (exit {returncode}): {stderr[-300:]}")
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


def _prepare(request: dict[str, Any]) -> Path:
    work = Path(tempfile.mkdtemp(prefix="larkdesk-parse-"))
    request = {**request, "path": str(Path(request["path"]).resolve()), "result": str(work / "result.pickle")}
    (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
    return work


def _read_result(work: Path) -> dict[str, Any] | None:
    result = work / "result.pickle"
    if not result.exists() or not result.stat().st_size:
        return None
    with result.open("rb") as fh:
        return pickle.load(fh)


async def _run_child(request: Path, limits: IngestLimits, filename: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sync.parse_process", str(request),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        cwd=_ROOT, env=_child_env())
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), limits.parse_timeout_s)
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.shield(proc.wait())
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise LimitExceeded(filename, "INGEST_PARSE_TIMEOUT_S", "the parse's time (s)", limits.parse_timeout_s,
                            status=422) from None
    return proc.returncode if proc.returncode is not None else -1, err.decode("utf-8", "replace")


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # nothing numeric here: no thread pools reserving address space
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
    return env


def _memory(filename: str, limits: IngestLimits) -> LimitExceeded:
    return LimitExceeded(filename, "INGEST_PARSE_MAX_MEMORY_MB", "the parse's memory (MB)",
                         limits.parse_max_memory_bytes // (1024 * 1024), status=422)


# -- errors across the process boundary -------------------------------------------------------------------------


def error_to_dict(exc: SourceError) -> dict[str, Any]:
    if isinstance(exc, LimitExceeded):
        return {"kind": "limit", **exc.to_dict()}
    if isinstance(exc, UnsupportedFileType):
        return {"kind": "unsupported", "filename": exc.filename, "extension": exc.extension,
                "supported": list(exc.supported)}
    if isinstance(exc, ConverterMissing):
        return {"kind": "converter", "filename": exc.filename, "needed": exc.needed, "hint": exc.install_hint}
    if isinstance(exc, ParseError):
        return {"kind": "parse", "filename": exc.filename, "reason": exc.reason}
    return {"kind": "source", "filename": exc.filename, "message": str(exc)}


def error_from_dict(data: dict[str, Any]) -> Exception:
    kind = data.get("kind")
    if kind == "limit":
        exc = LimitExceeded(data["filename"], data["setting"], "", data["limit"], data["found"],
                            status=data["status"])
        exc.args = (data["message"],)
        return exc
    if kind == "unsupported":
        return UnsupportedFileType(data["filename"], data["extension"], data["supported"])
    if kind == "converter":
        return ConverterMissing(data["filename"], data["needed"], data["hint"])
    if kind == "parse":
        return ParseError(data["filename"], data["reason"])
    if kind == "value":
        return ValueError(data["message"])
    return SourceError(data.get("message", "cannot read the file"), filename=data.get("filename", ""))


# -- the child ---------------------------------------------------------------------------------------------------


def _child(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    limits = IngestLimits(**request["limits"])
    memory = limits.parse_max_memory_bytes
    # A backstop if the parent died: CPU seconds, a little past the wall-clock limit the parent enforces.
    cpu = int(limits.parse_timeout_s) + 5
    for which, value in ((resource.RLIMIT_AS, (memory, memory)), (resource.RLIMIT_CPU, (cpu, cpu + 5))):
        try:
            resource.setrlimit(which, value)
        except (ValueError, OSError) as exc:  # e.g. macOS refuses RLIMIT_AS: the time limit still holds
            print(f"parse_process: cannot set limit {which}: {exc}", file=sys.stderr)
    result = Path(request["result"])
    try:
        from sync.parsers import parse_file

        document = parse_file(Path(request["path"]), knowledge_type=request["knowledge_type"],
                              source_id=request["source_id"], limits=limits)
        outcome: dict[str, Any] = {"document": document}
    except MemoryError:
        return _EXIT_MEMORY  # nothing written: the parent reports the memory limit
    except SourceError as exc:
        if _near_cap(memory):  # lxml reports a failed allocation as a syntax error ("unknown error")
            return _EXIT_MEMORY
        outcome = {"error": error_to_dict(exc)}
    except ValueError as exc:  # a bad knowledge_type
        outcome = {"error": {"kind": "value", "message": str(exc)}}
    try:
        with result.open("wb") as fh:
            pickle.dump(outcome, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        result.unlink(missing_ok=True)
        return _EXIT_MEMORY
    return 0


def _near_cap(cap: int) -> bool:
    """Whether this process's address space came within 5 % of the cap (an allocation failed, whatever the
    library made of it)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("VmPeak:"):
            return int(line.split()[1]) * 1024 >= cap * 0.95
    return False


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
