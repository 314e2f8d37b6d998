"""Bounded ingest over REST: every bomb (generated here, small on disk) is refused with the limit it broke,
a parse over its time or memory is killed and reported, temporary folders never stay behind, and a large but
legitimate FAQ becomes a background job with progress."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.hostile import bombs
from tests.polling import eventually
from tests.rest_client import JsonClient, start_rest_server

pytestmark = pytest.mark.integration

LIMITS = dict(ingest_zip_max_uncompressed_mb=8, ingest_zip_max_members=500, ingest_pdf_max_pages=50,
              ingest_pdf_max_stream_mb=2, ingest_max_faq_rows=100, ingest_max_chars=200_000, ingest_max_chunks=150,
              ingest_background_rows=20)


@pytest.fixture
def temp_root(tmp_path, monkeypatch) -> Path:
    """This test's own temporary folder, so "nothing left behind" sees only what this test created."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("larkdesk-"))


@pytest.fixture
async def rest(tmp_path, embedder, temp_root):
    server = await start_rest_server(tmp_path / "server", embedder=embedder, faq=False, **LIMITS)
    yield server
    await server.close()


@pytest.fixture
async def api(rest):
    client = JsonClient(rest.url)
    yield client
    await client.close()


async def upload(api: JsonClient, path: Path) -> tuple[int, dict]:
    return await api.call("POST", "/api/v1/knowledge/ingest", data=_form(path))


def markdown(path: Path, sections: int, words: int) -> Path:
    path.write_text("".join(f"# 第{i}节\n\n" + "退货政策说明。" * words + "\n\n" for i in range(sections)),
                    encoding="utf-8")
    return path


BOMBS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "docx zip bomb": (lambda d: bombs.docx_bomb(d / "bomb.docx", 20 * 1024**2), "INGEST_ZIP_MAX_UNCOMPRESSED_MB"),
    "docx of 600 files": (lambda d: bombs.many_members_zip(d / "many.docx", 600), "INGEST_ZIP_MAX_MEMBERS"),
    "xlsx zip bomb": (lambda d: bombs.faq_xlsx(d / "huge.xlsx", 60_000), "INGEST_ZIP_MAX_UNCOMPRESSED_MB"),
    "pdf flate bomb": (lambda d: bombs.pdf_flate_bomb(d / "flate.pdf", 10 * 1024**2), "INGEST_PDF_MAX_STREAM_MB"),
    "pdf of 200 pages": (lambda d: bombs.pdf_many_pages(d / "pages.pdf", 200), "INGEST_PDF_MAX_PAGES"),
    "pdf lying about its pages": (lambda d: bombs.pdf_many_pages(d / "lying.pdf", 200, declared=1),
                                  "INGEST_PDF_MAX_PAGES"),
    "xlsx of 150 rows": (lambda d: bombs.faq_xlsx(d / "rows.xlsx", 150), "INGEST_MAX_FAQ_ROWS"),
    "jsonl of 150 rows": (lambda d: bombs.faq_jsonl(d / "rows.jsonl", 150), "INGEST_MAX_FAQ_ROWS"),
    "markdown of 300k characters": (lambda d: markdown(d / "long.md", 10, 4300), "INGEST_MAX_CHARS"),
    "markdown of 400 sections": (lambda d: markdown(d / "sections.md", 400, 2), "INGEST_MAX_CHUNKS"),
}


@pytest.mark.parametrize("case", sorted(BOMBS))
async def test_each_bomb_is_refused_naming_its_limit(api, tmp_path, temp_root, case):
    build, setting = BOMBS[case]
    files = tmp_path / "files"
    files.mkdir()
    path = build(files)
    assert path.stat().st_size < 4 * 1024**2  # small on disk, expensive to parse

    status, body = await upload(api, path)
    assert status == 413, body
    assert body["error"]["code"] == "limit_exceeded" and body["error"]["details"]["limit"] == setting
    assert setting in body["error"]["message"] and path.name in body["error"]["message"]
    assert (await api.get("/api/v1/knowledge/documents"))[1]["total"] == 0  # nothing was written
    assert leftovers(temp_root) == []


async def test_a_parse_past_its_time_is_killed_and_reported(tmp_path, embedder, temp_root):
    rest = await start_rest_server(tmp_path / "server", embedder=embedder, faq=False, ingest_parse_timeout_s=0.2)
    api = JsonClient(rest.url)
    try:
        path = bombs.docx_bomb(tmp_path / "slow.docx", 4 * 1024**2)
        started = time.monotonic()
        status, body = await upload(api, path)
        assert status == 422 and body["error"]["details"]["limit"] == "INGEST_PARSE_TIMEOUT_S"
        assert time.monotonic() - started < 10  # killed, not waited for
        assert (await api.get("/healthz"))[0] == 200
        assert leftovers(temp_root) == []
    finally:
        await api.close()
        await rest.close()


async def test_a_parse_past_its_memory_is_killed_and_reported(tmp_path, embedder, temp_root):
    rest = await start_rest_server(tmp_path / "server", embedder=embedder, faq=False,
                                   ingest_zip_max_uncompressed_mb=200, ingest_parse_max_memory_mb=250)
    api = JsonClient(rest.url)
    try:
        path = bombs.docx_bomb(tmp_path / "big.docx", 60 * 1024**2)  # within the zip limit, not within memory
        status, body = await upload(api, path)
        assert status == 422 and body["error"]["details"]["limit"] == "INGEST_PARSE_MAX_MEMORY_MB", body
        assert leftovers(temp_root) == []
    finally:
        await api.close()
        await rest.close()


async def test_an_upload_cut_off_mid_body_leaves_nothing_behind(rest, temp_root):
    host, port = rest.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    head = ("POST /api/v1/knowledge/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            "Content-Length: 5000000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; "
            "filename=\"a.md\"\r\n\r\n")
    writer.write(head.encode() + b"x" * 300_000)
    await writer.drain()
    await eventually(lambda: leftovers(temp_root), 5)  # the upload folder exists while the body streams
    writer.close()  # the client goes away
    await eventually(lambda: not leftovers(temp_root), 5)


async def test_a_large_faq_is_a_background_job_with_progress(api, rest, tmp_path, temp_root):
    small = bombs.faq_jsonl(tmp_path / "small.jsonl", 5)
    status, body = await upload(api, small)  # ordinary files keep the synchronous contract
    assert status == 201 and body["added"] == 10

    large = bombs.faq_jsonl(tmp_path / "large.jsonl", 40)  # 80 rows to embed > INGEST_BACKGROUND_ROWS (20)
    async with api.session.post(f"{rest.url}/api/v1/knowledge/ingest", data=_form(large)) as response:
        status, job = response.status, await response.json()
        location = response.headers["Location"]
    assert status == 202 and job["status"] in ("queued", "running") and location.endswith(job["job_id"])
    seen_progress = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status, job = await api.get(location)
        assert status == 200
        seen_progress.add((job["phase"], job["done"], job["total"]))
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.2)
    assert job["status"] == "done", job
    assert job["total"] == 80 and job["done"] == 80
    assert job["result"]["added"] == 80 and job["result"]["source_id"] == "file:large.jsonl"
    assert job["result"]["version"] == 1
    assert leftovers(temp_root) == []
    status, answer = await api.post("/api/v1/chat", {"message": "第17号商品可以退货吗"})
    assert status == 200 and "第17号商品" in answer["reply"]
    assert (await api.get("/api/v1/knowledge/jobs/job_nope"))[0] == 404


def _form(path: Path) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("file", path.read_bytes(), filename=path.name, content_type="application/octet-stream")
    return data


def larkdesk(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATA_DIR": str(data_dir), "REDIS_URL": "", "MILVUS_URI": "", "LOG_FORMAT": "json",
                   "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=environment,
                          timeout=180, check=False)


def test_cli_ingest_shows_the_embedding_progress(tmp_path):
    path = bombs.faq_jsonl(tmp_path / "faq.jsonl", 30)
    done = larkdesk("ingest", str(path), data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert "faq.jsonl · embed 60/60" in done.stderr and "ingested 1/1 files, 30 chunks" in done.stdout


def test_cli_ingest_reports_a_limit_by_its_setting(tmp_path):
    path = bombs.faq_jsonl(tmp_path / "faq.jsonl", 30)
    env_limit = {"INGEST_MAX_FAQ_ROWS": "10"}
    done = larkdesk("ingest", str(path), data_dir=tmp_path / "data", env=env_limit)
    assert done.returncode == 1 and "INGEST_MAX_FAQ_ROWS" in done.stderr
