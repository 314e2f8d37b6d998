"""/api/v1/knowledge/*: upload a document into knowledge, list sources and versions, roll back."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from aiohttp import web

from bot.rest.errors import ApiError, not_found, validation_error
from bot.rest.models import (
    DocumentsResponse,
    IngestForm,
    IngestJobView,
    IngestResultView,
    RollbackRequest,
    VersionsResponse,
)
from bot.rest.spec import Operation, dump, parse_body, validate
from bot.rest.uploads import read_upload
from bot.services import Services
from observability.metrics import INGEST_REFUSED
from sync.errors import ConverterMissing, ParseError, SourceError, UnsupportedFileType
from sync.jobs import IngestJobs
from sync.knowledge import QualityRejected
from sync.limits import LimitExceeded
from sync.models import ParsedDocument

SOURCE = "/api/v1/knowledge/documents/{source_id}"
JOB = "/api/v1/knowledge/jobs/{job_id}"
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _flag(fields: dict[str, str], name: str) -> Any:
    """Form fields are text: booleans as true/false (1/0, yes/no, on/off); anything else fails validation."""
    if name not in fields:
        return True
    raw = fields[name].strip().lower()
    return True if raw in _TRUE else False if raw in _FALSE else fields[name]


def _check_quality(doc: ParsedDocument) -> None:
    from sync.quality import validate_quality

    report = validate_quality(doc)
    if not report.ok:
        raise QualityRejected(doc.source_id, report.reason)


class KnowledgeRoutes:
    def __init__(self, services: Services) -> None:
        self.kb = services.knowledge.kb
        self.jobs = IngestJobs(services.redis, self.kb)

    async def close(self) -> None:
        await self.jobs.close()

    async def ingest(self, request: web.Request) -> web.Response:
        upload = await read_upload(request)
        try:
            if upload.path is None:
                raise validation_error("file: a file part is required", errors=[{"loc": "file", "msg": "missing"}])
            unknown = set(upload.fields) - {"knowledge_type", "register", "validate_quality"}
            if unknown:
                raise validation_error(f"unknown form fields: {', '.join(sorted(unknown))}")
            form = validate(IngestForm, {"file": b"", "knowledge_type": upload.fields.get("knowledge_type") or None,
                                         "register": _flag(upload.fields, "register"),
                                         "validate_quality": _flag(upload.fields, "validate_quality")})
            try:
                # Parsed within the ingest limits, in a capped process; only then is the size of the write known.
                doc = await self.kb.parse(upload.path, knowledge_type=form.knowledge_type)
                if await self.kb.new_rows(doc) > self.kb.limits.background_rows:
                    if form.validate_quality:
                        await asyncio.to_thread(_check_quality, doc)
                    job = await self.jobs.start(doc, filename=upload.path.name, register=form.register_version)
                    response = dump(IngestJobView, job.to_dict(), status=202)
                    response.headers["Location"] = JOB.format(job_id=job.job_id)
                    return response
                result = await self.kb.ingest_file(upload.path, register=form.register_version,
                                                   validate_quality=form.validate_quality, parsed=doc)
            except LimitExceeded as exc:
                INGEST_REFUSED.labels(exc.setting).inc()
                raise ApiError(exc.status, "limit_exceeded", str(exc), limit=exc.setting, max=exc.limit) from None
            except UnsupportedFileType as exc:
                raise ApiError(415, "unsupported_file_type", str(exc), supported=list(exc.supported)) from None
            except ConverterMissing as exc:
                raise ApiError(415, "converter_missing", str(exc)) from None
            except QualityRejected as exc:
                raise ApiError(422, "quality_rejected", exc.reason, source_id=exc.source_id) from None
            except ParseError as exc:
                raise ApiError(422, "unreadable_file", str(exc)) from None
            except SourceError as exc:
                raise ApiError(422, "unreadable_file", str(exc)) from None
            return dump(IngestResultView, asdict(result), status=201)
        finally:
            await asyncio.to_thread(upload.cleanup)

    async def job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        job = await self.jobs.get(job_id)
        if job is None:
            raise not_found(f"no ingest job {job_id} (or it expired)")
        return dump(IngestJobView, job.to_dict())

    async def documents(self, _request: web.Request) -> web.Response:
        docs = await self.kb.documents()
        return dump(DocumentsResponse, {"documents": docs, "total": len(docs)})

    async def versions(self, request: web.Request) -> web.Response:
        source_id = request.match_info["source_id"]
        versions = await self.kb.list_versions(source_id)
        if not versions:
            raise not_found(f"no knowledge source {source_id}")
        current = await asyncio.to_thread(self.kb.versions.current, source_id)
        return dump(VersionsResponse, {"source_id": source_id, "current_version": current,
                                       "versions": [asdict(v) for v in versions]})

    async def rollback(self, request: web.Request) -> web.Response:
        body = await parse_body(request, RollbackRequest)
        source_id = request.match_info["source_id"]
        try:
            result = await self.kb.rollback(source_id, body.version)
        except (KeyError, StopIteration):
            raise not_found(f"{source_id} has no version {body.version}") from None
        return dump(IngestResultView, asdict(result))

    def operations(self) -> list[Operation]:
        tag = "knowledge"
        return [
            Operation("POST", "/api/v1/knowledge/ingest", self.ingest, "Upload a document into knowledge", tag,
                      IngestResultView, ok_status=201, body=IngestForm, multipart=True, errors=(413, 415),
                      other_ok=((202, IngestJobView),),
                      description="The file is parsed (by its extension, in a process with capped memory and "
                                  "time), checked, chunked, and only new chunks are embedded; a re-upload of the "
                                  "same name is a new version of the same source. 201: written. 202: more than "
                                  "INGEST_BACKGROUND_ROWS new rows to embed, so the write runs as a job (poll the "
                                  "Location). 415: unsupported type; 422: broken file, refused by the quality "
                                  "check, or its parse killed (INGEST_PARSE_TIMEOUT_S, INGEST_PARSE_MAX_MEMORY_MB); "
                                  "413: over 50 MB or over an ingest limit (error.details.limit names the "
                                  "setting)."),
            Operation("GET", JOB, self.job, "A background ingest's progress and result", tag, IngestJobView),
            Operation("GET", "/api/v1/knowledge/documents", self.documents, "Knowledge sources", tag,
                      DocumentsResponse),
            Operation("GET", f"{SOURCE}/versions", self.versions, "Versions of a source", tag, VersionsResponse),
            Operation("POST", f"{SOURCE}/rollback", self.rollback, "Roll a source back to a version", tag,
                      IngestResultView, body=RollbackRequest),
        ]
