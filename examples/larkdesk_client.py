"""A small synchronous client for the larkdesk REST API (requests), and a command line around it.

    python examples/larkdesk_client.py chat "怎么申请退货？"
    python examples/larkdesk_client.py stream "怎么申请退货？"          # tokens as they arrive
    python examples/larkdesk_client.py ingest policy.pdf --type policy

Base URL and key: --url / LARKDESK_URL (default http://localhost:8000), --api-key / LARKDESK_API_KEY.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import requests


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def parse_sse(lines: Iterable[str | bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs from the lines of a text/event-stream, as each event completes."""
    event, data = "message", []
    for raw in lines:
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r")
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue  # a comment (keep-alive)
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield event, json.loads("\n".join(data))


class LarkdeskClient:
    def __init__(self, base_url: str = "http://localhost:8000", api_key: str | None = None,
                 timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.http = requests.Session()
        if api_key:
            self.http.headers["X-API-Key"] = api_key

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> LarkdeskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, self.base_url + path, timeout=self.timeout_s, **kwargs)
        return self._result(response)

    @staticmethod
    def _result(response: requests.Response) -> Any:
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                raise ApiError(response.status_code, "http_error", response.text[:200]) from None
            raise ApiError(response.status_code, error.get("code", ""), error.get("message", ""),
                           error.get("details"))
        return response.json()

    # -- chat ---------------------------------------------------------------------------------------------

    def chat(self, message: str, session_id: str | None = None, *, channel: str = "web",
             user_id: str | None = None) -> dict[str, Any]:
        return self._request("POST", "/api/v1/chat", json=_chat_body(message, session_id, channel, user_id))

    def chat_stream(self, message: str, session_id: str | None = None, *, channel: str = "web",
                    user_id: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """meta, token…, done (or error) events, each as soon as it arrives."""
        body = _chat_body(message, session_id, channel, user_id)
        with self.http.post(self.base_url + "/api/v1/chat/stream", json=body, stream=True,
                            timeout=self.timeout_s) as response:
            if response.status_code >= 400:
                self._result(response)
            yield from parse_sse(response.iter_lines(chunk_size=1024))

    # -- knowledge ----------------------------------------------------------------------------------------

    def ingest(self, path: str | Path, *, knowledge_type: str | None = None, register: bool = True,
               validate_quality: bool = True) -> dict[str, Any]:
        path = Path(path)
        form = {"register": str(register).lower(), "validate_quality": str(validate_quality).lower()}
        if knowledge_type:
            form["knowledge_type"] = knowledge_type
        with path.open("rb") as fh:
            return self._request("POST", "/api/v1/knowledge/ingest", data=form,
                                 files={"file": (path.name, fh, "application/octet-stream")})

    def documents(self) -> list[dict[str, Any]]:
        return self._request("GET", "/api/v1/knowledge/documents")["documents"]

    def versions(self, source_id: str) -> dict[str, Any]:
        return self._request("GET", f"/api/v1/knowledge/documents/{requests.utils.quote(source_id, safe='')}"
                                    "/versions")

    def rollback(self, source_id: str, version: int) -> dict[str, Any]:
        return self._request("POST", f"/api/v1/knowledge/documents/{requests.utils.quote(source_id, safe='')}"
                                     "/rollback", json={"version": version})

    def invalidate_cache(self) -> int:
        return self._request("POST", "/api/v1/performance/cache/invalidate")["cleared"]

    # -- agent desk ---------------------------------------------------------------------------------------

    def pending(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._request("GET", "/api/v1/agent/sessions/pending", params={"limit": limit})

    def session(self, session_id: str) -> dict[str, Any]:
        return self._request("GET", f"/api/v1/agent/sessions/{session_id}")

    def accept(self, session_id: str, agent_id: str, agent_name: str | None = None) -> dict[str, Any]:
        body = {"agent_id": agent_id} | ({"agent_name": agent_name} if agent_name else {})
        return self._request("POST", f"/api/v1/agent/sessions/{session_id}/accept", json=body)

    def send(self, session_id: str, content: str, agent_id: str | None = None) -> dict[str, Any]:
        body = {"content": content} | ({"agent_id": agent_id} if agent_id else {})
        return self._request("POST", f"/api/v1/agent/sessions/{session_id}/messages", json=body)

    def recommend(self, session_id: str, query: str, top_k: int = 3) -> list[dict[str, Any]]:
        return self._request("POST", f"/api/v1/agent/sessions/{session_id}/knowledge-recommend",
                             json={"query": query, "top_k": top_k})["chunks"]

    def business_assist(self, session_id: str, query: str) -> dict[str, Any]:
        return self._request("POST", f"/api/v1/agent/sessions/{session_id}/business-assist",
                             json={"query": query})["result"]

    def solution(self, session_id: str, question: str, solution: str, intent: str | None = None) -> dict[str, Any]:
        body = {"question": question, "solution": solution} | ({"intent": intent} if intent else {})
        return self._request("POST", f"/api/v1/agent/sessions/{session_id}/solution", json=body)

    def resolve(self, session_id: str, note: str = "", agent_id: str | None = None) -> dict[str, Any]:
        body = {"note": note} | ({"agent_id": agent_id} if agent_id else {})
        return self._request("POST", f"/api/v1/agent/sessions/{session_id}/resolve", json=body)

    # -- monitor ------------------------------------------------------------------------------------------

    def traces(self, limit: int = 20) -> list[dict[str, Any]]:
        return self._request("GET", "/api/v1/monitor/traces", params={"limit": limit})["traces"]


def _chat_body(message: str, session_id: str | None, channel: str, user_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "channel": channel}
    if session_id:
        body["session_id"] = session_id
    if user_id:
        body["user_id"] = user_id
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("LARKDESK_URL", "http://localhost:8000"))
    parser.add_argument("--api-key", default=os.environ.get("LARKDESK_API_KEY"))
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("chat", "stream"):
        p = sub.add_parser(name)
        p.add_argument("message")
        p.add_argument("--session")
    p = sub.add_parser("ingest")
    p.add_argument("path")
    p.add_argument("--type", dest="knowledge_type")
    args = parser.parse_args(argv)
    with LarkdeskClient(args.url, args.api_key) as client:
        try:
            if args.command == "chat":
                print(json.dumps(client.chat(args.message, args.session), ensure_ascii=False, indent=1))
            elif args.command == "stream":
                for event, data in client.chat_stream(args.message, args.session):
                    if event == "token":
                        print(data["content"], end="", flush=True)
                    elif event == "done":
                        print(f"\n[session {data['session_id']}, intent {data['data'].get('intent')}]")
                    elif event == "error":
                        print(f"\n[error {data['code']}: {data['message']}]", file=sys.stderr)
                        return 1
            else:
                print(json.dumps(client.ingest(args.path, knowledge_type=args.knowledge_type), ensure_ascii=False))
        except ApiError as exc:
            print(exc, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
