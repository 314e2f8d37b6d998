"""Large ingests as background jobs: the upload is answered at once (202 + a job id) and the embedding runs
after, its progress readable at any time (`GET /api/v1/knowledge/jobs/{id}`).

A job's state lives in Redis (one JSON value, kept `ttl_s`), so every server process answers for it; the task
runs in the process that accepted the upload, which owns it and cancels it at shutdown (the job then reads
`failed`, "server stopped": uploading again resumes cheaply, as rows already embedded are not embedded twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import structlog

from sync.knowledge import KnowledgeBase, QualityRejected
from sync.models import ParsedDocument

log = structlog.get_logger("sync.jobs")

_PREFIX = "larkdesk:ingest_job:"
_SAVE_EVERY_S = 0.5


@dataclass
class IngestJob:
    job_id: str
    source_id: str
    filename: str
    status: str = "queued"  # queued | running | done | failed
    phase: str = "queued"  # queued | embed | write | done
    done: int = 0
    total: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class IngestJobs:
    def __init__(self, redis: Any, kb: KnowledgeBase, *, ttl_s: int = 24 * 3600) -> None:
        self.redis = redis
        self.kb = kb
        self.ttl_s = ttl_s
        self._running: dict[str, tuple[IngestJob, asyncio.Task[None]]] = {}

    async def start(self, doc: ParsedDocument, *, filename: str, register: bool = True) -> IngestJob:
        """Queue the write of an already parsed (and quality-checked) document."""
        now = time.time()
        job = IngestJob(f"job_{uuid.uuid4().hex[:20]}", doc.source_id, filename, created_at=now, updated_at=now)
        await self._save(job)
        task = asyncio.create_task(self._run(job, doc, register), name=f"ingest_job:{job.job_id}")
        self._running[job.job_id] = (job, task)
        task.add_done_callback(lambda _t, job_id=job.job_id: self._running.pop(job_id, None))
        log.info("jobs.started", job_id=job.job_id, source_id=doc.source_id, chunks=len(doc.chunks))
        return job

    async def get(self, job_id: str) -> IngestJob | None:
        running = self._running.get(job_id)
        if running is not None:  # fresher than what was last saved
            return running[0]
        raw = await self.redis.get(_PREFIX + job_id)
        if raw is None:
            return None
        return IngestJob(**json.loads(raw))

    async def close(self) -> None:
        """Cancel the jobs this process runs (each is saved as failed); called at shutdown."""
        running = list(self._running.values())
        for _job, task in running:
            task.cancel()
        await asyncio.gather(*(task for _job, task in running), return_exceptions=True)

    async def _run(self, job: IngestJob, doc: ParsedDocument, register: bool) -> None:
        job.status, job.phase = "running", "embed"

        def progress(phase: str, done: int, total: int) -> None:
            if phase == "parse":
                return
            job.phase, job.updated_at = phase, time.time()
            if phase == "embed":
                job.done, job.total = done, total

        saver = asyncio.create_task(self._keep_saving(job))
        try:
            result = await self.kb.ingest_document(doc, register=register, validate_quality=False,
                                                   origin=job.filename, progress=progress)
            job.status, job.phase, job.result = "done", "done", asdict(result)
            job.done = job.total
            log.info("jobs.done", job_id=job.job_id, added=result.added)
        except asyncio.CancelledError:
            job.status, job.error = "failed", {"code": "server_stopped",
                                               "message": "the server stopped before the job finished; upload again"}
            raise
        except QualityRejected as exc:
            job.status, job.error = "failed", {"code": "quality_rejected", "message": exc.reason}
        except Exception as exc:  # reported on the job: the client polls it, nobody waits on this task
            log.exception("jobs.failed", job_id=job.job_id)
            job.status, job.error = "failed", {"code": "ingest_failed", "message": f"{type(exc).__name__}: {exc}"}
        finally:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
            job.updated_at = time.time()
            await asyncio.shield(self._save(job))

    async def _keep_saving(self, job: IngestJob) -> None:
        while True:
            await asyncio.sleep(_SAVE_EVERY_S)
            await self._save(job)

    async def _save(self, job: IngestJob) -> None:
        try:
            await self.redis.set(_PREFIX + job.job_id, json.dumps(job.to_dict(), ensure_ascii=False), ex=self.ttl_s)
        except Exception as exc:  # progress is best-effort; the job itself goes on
            log.warning("jobs.save_failed", job_id=job.job_id, error=str(exc))
