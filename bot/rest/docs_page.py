"""`/docs`: the OpenAPI document rendered to one self-contained HTML page (no scripts, no CDN: works offline)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

_STYLE = """
body{font:14px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1f2329}
h1{margin-bottom:0}h2{border-bottom:1px solid #dee0e3;padding-bottom:.2em;margin-top:2em}
details{border:1px solid #dee0e3;border-radius:6px;margin:.5em 0;padding:.4em .8em}
summary{cursor:pointer}code,pre{font:12px/1.4 ui-monospace,monospace}
pre{background:#f5f6f7;padding:.6em;overflow:auto;border-radius:4px;max-height:28em}
.m{display:inline-block;min-width:4.5em;font-weight:600;text-transform:uppercase}
.get{color:#2e7d32}.post{color:#1565c0}.delete{color:#c62828}.put,.patch{color:#ef6c00}
table{border-collapse:collapse}td,th{border:1px solid #dee0e3;padding:.2em .6em;text-align:left}
"""


def _resolve(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0) -> Any:
    """Inline $refs (bounded) so each operation reads on its own."""
    if depth > 6:
        return schema
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return _resolve(schemas.get(ref.rsplit("/", 1)[1], {}), schemas, depth + 1)
        return {k: _resolve(v, schemas, depth + 1) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_resolve(v, schemas, depth + 1) for v in schema]
    return schema


def _pre(value: Any) -> str:
    return f"<pre>{escape(json.dumps(value, ensure_ascii=False, indent=2))}</pre>"


def _operation_html(method: str, path: str, op: dict[str, Any], schemas: dict[str, Any]) -> str:
    parts = [f"<details><summary><span class='m {method}'>{method}</span> <code>{escape(path)}</code> — "
             f"{escape(op.get('summary', ''))}</summary>"]
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    if op.get("parameters"):
        rows = "".join(f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
                       f"<td>{escape(json.dumps(p.get('schema', {})))}</td></tr>" for p in op["parameters"])
        parts.append(f"<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>schema</th></tr>{rows}</table>")
    if "requestBody" in op:
        for media, spec in op["requestBody"]["content"].items():
            parts.append(f"<h4>Request body <code>{escape(media)}</code></h4>")
            parts.append(_pre(_resolve(spec.get("schema", {}), schemas)))
    parts.append("<h4>Responses</h4>")
    for status, spec in op.get("responses", {}).items():
        parts.append(f"<p><b>{escape(status)}</b> {escape(spec.get('description', ''))}</p>")
        for media, body in spec.get("content", {}).items():
            if status.startswith("2"):
                parts.append(f"<code>{escape(media)}</code>" + _pre(_resolve(body.get("schema", {}), schemas)))
    parts.append("</details>")
    return "".join(parts)


def render_docs(document: dict[str, Any]) -> str:
    schemas = document.get("components", {}).get("schemas", {})
    by_tag: dict[str, list[str]] = {}
    for path, methods in document.get("paths", {}).items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append(_operation_html(method, path, op, schemas))
    info = document.get("info", {})
    sections = "".join(f"<h2>{escape(tag)}</h2>{''.join(ops)}" for tag, ops in by_tag.items())
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(info.get('title', ''))}"
            f"</title><style>{_STYLE}</style></head><body><h1>{escape(info.get('title', ''))}</h1>"
            f"<p>Version {escape(str(info.get('version', '')))} · <a href='/openapi.json'>openapi.json</a></p>"
            f"<p>{escape(info.get('description', ''))}</p>{sections}</body></html>")
