"""The OpenAPI document at /schema/openapi.json and a page at /schema that works offline
(rendered on the server from the document: no JavaScript from a CDN)."""

from __future__ import annotations

import html
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin


class OfflineSchemaPage(OpenAPIRenderPlugin):
    def __init__(self) -> None:
        super().__init__(path=["/", "/index.html"])

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        esc = html.escape
        rows = []
        for path, operations in sorted(openapi_schema.get("paths", {}).items()):
            for method, op in operations.items():
                if not isinstance(op, dict) or method.startswith("x-") or method == "parameters":
                    continue
                params = ", ".join(esc(p.get("name", "")) for p in op.get("parameters", []) if isinstance(p, dict))
                body = op.get("requestBody", {}).get("content", {})
                body_ref = ", ".join(esc(k) for k in body)
                responses = ", ".join(esc(str(code)) for code in op.get("responses", {}))
                rows.append(
                    f"<tr><td><code>{esc(method.upper())}</code></td><td><code>{esc(path)}</code></td>"
                    f"<td>{esc(op.get('summary') or '')}<br><small>{esc(op.get('description') or '')}</small></td>"
                    f"<td>{params}</td><td>{body_ref}</td><td>{responses}</td></tr>"
                )
        info = openapi_schema.get("info", {})
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(info.get('title', 'API'))}</title>
<link rel="stylesheet" href="/static/console.css"></head><body><main class="wide">
<h1>{esc(info.get('title', 'API'))} <small>{esc(info.get('version', ''))}</small></h1>
<p>The machine-readable document: <a href="/schema/openapi.json">/schema/openapi.json</a>. Log in with
<code>POST /auth/login</code> and send <code>Authorization: Bearer &lt;token&gt;</code>. Errors are
<code>{{"code": ..., "message": ...}}</code>.</p>
<table><thead><tr><th>method</th><th>path</th><th>what</th><th>parameters</th><th>body</th><th>responses</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table></main></body></html>"""
        return page.encode()
