"""Ingest every PDF, DOCX and Markdown file of a folder through the REST API, then drop the answer cache.

    python examples/batch_ingest.py ./manuals --type policy [--url http://localhost:8000] [--api-key KEY]

Prints one line per file and a JSON summary last; exits 1 when any file failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from larkdesk_client import ApiError, LarkdeskClient

PATTERNS = ("*.pdf", "*.docx", "*.md")


def files_of(folder: Path, recursive: bool) -> list[Path]:
    found = {p for pattern in PATTERNS for p in (folder.rglob(pattern) if recursive else folder.glob(pattern))}
    return sorted(p for p in found if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--type", dest="knowledge_type", choices=["doc", "faq", "policy", "solution"])
    parser.add_argument("--recursive", action="store_true")
    parser.add_argument("--url", default=os.environ.get("LARKDESK_URL", "http://localhost:8000"))
    parser.add_argument("--api-key", default=os.environ.get("LARKDESK_API_KEY"))
    args = parser.parse_args(argv)

    ingested, failed, chunks = [], [], 0
    with LarkdeskClient(args.url, args.api_key) as client:
        for path in files_of(args.folder, args.recursive):
            try:
                result = client.ingest(path, knowledge_type=args.knowledge_type)
            except ApiError as exc:
                failed.append({"file": path.name, "status": exc.status, "code": exc.code, "message": exc.message})
                print(f"FAIL {path.name}: {exc}", file=sys.stderr)
                continue
            chunks += result["chunk_count"]
            ingested.append({"file": path.name, "source_id": result["source_id"], "version": result.get("version"),
                             "chunk_count": result["chunk_count"]})
            print(f"ok   {path.name}: {result['chunk_count']} chunks, version {result.get('version')}")
        cleared = client.invalidate_cache()
    print(json.dumps({"ingested": ingested, "failed": failed, "chunks": chunks, "cache_cleared": cleared},
                     ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
