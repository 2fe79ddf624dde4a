"""Plain-dict views of the console's records for JSON answers and templates."""

from __future__ import annotations

import json
from typing import Any

from webapp.db import AuditEntry, ReviewRequest


def request_view(req: ReviewRequest) -> dict[str, Any]:
    return {
        "requestId": req.id,
        "kind": req.kind,
        "function": req.function,
        "args": json.loads(req.args_json),
        "txId": req.tx_id,
        "requester": req.requester,
        "counterparty": req.counterparty,
        "status": req.status,
        "summary": req.summary,
        "warnings": json.loads(req.warnings_json or "[]"),
        "amount": req.amount,
        "assetId": req.asset_id,
        "createdAt": req.created_at,
        "decidedAt": req.decided_at,
        "decidedBy": req.decided_by,
        "reason": req.reason,
        "block": req.block,
        "code": req.code,
        "message": req.message,
    }


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return {"requestId": entry.request_id, "actor": entry.actor, "action": entry.action, "detail": entry.detail, "at": entry.at}
