"""What a reviewer needs to judge a publication: its metadata as labelled fields, the
dataset's preview and file, and whether the same file (by content hash) was rejected or
refused before, with the reason. A JSON blob of metadata hid all of that."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from webapp.datasets import DATASET_ID_RE, DatasetStore, analyze, download_extension
from webapp.db import ReviewRequest, session
from webapp.errors import AppError, BadInput, NotFound

EARLIER_LISTED_MAX = 20
REFUSED_STATUSES = ("rejected", "failed")


@dataclass(frozen=True, slots=True)
class EarlierRefusal:
    """An earlier publication request of the same file that did not go through."""

    request_id: str
    asset_id: str
    requester: str
    status: str  # rejected or failed
    decided_by: str
    decided_at: float | None
    reason: str  # the administrator's reason, or the ledger's code and message

    def sentence(self) -> str:
        who = f"by {self.decided_by}" if self.status == "rejected" and self.decided_by else "by the ledger"
        return f"This file was {self.status} before {who} (request {self.request_id}, asset {self.asset_id}, from {self.requester}): {self.reason}"


@dataclass
class PublishReview:
    name: str
    asset_id: str
    owner: str
    price: int
    metadata: dict[str, Any]
    content_hash: str
    stored: bool = False
    preview: list[list[str]] = field(default_factory=list)
    rows: int | None = None
    earlier: list[EarlierRefusal] = field(default_factory=list)


def enroll_args(req: ReviewRequest) -> tuple[str, str, dict[str, Any], str, int]:
    """(name, asset id, metadata, owner, price) of an assetsEnroll request."""
    if req.function != "assetsEnroll":
        raise BadInput("NOT_A_PUBLICATION", "This request does not publish a dataset.")
    name, asset_id, metadata, owner, price = json.loads(req.args_json)
    try:
        meta = json.loads(metadata)
    except ValueError:
        meta = {}
    return str(name), str(asset_id), meta if isinstance(meta, dict) else {}, str(owner), int(price)


def refused_before(engine: Engine, content_hash: str, except_id: str) -> list[EarlierRefusal]:
    """Publication requests of this content hash that were rejected or failed, newest first."""
    if not DATASET_ID_RE.match(content_hash or ""):
        return []
    with session(engine) as db:
        rows = db.exec(
            select(ReviewRequest)
            .where(
                ReviewRequest.kind == "enroll",
                ReviewRequest.id != except_id,
                col(ReviewRequest.status).in_(REFUSED_STATUSES),
                col(ReviewRequest.args_json).contains(content_hash),
            )
            .order_by(col(ReviewRequest.decided_at).desc())
            .limit(EARLIER_LISTED_MAX)
        )
        found = []
        for other in rows:
            reason = other.reason or (f"{other.code}: {other.message}" if other.code else "no reason recorded")
            asset_id = other.asset_id or ""
            found.append(EarlierRefusal(other.id, asset_id, other.requester, other.status, other.decided_by or "", other.decided_at, reason))
    return found


def publish_review(engine: Engine, datasets: DatasetStore, req: ReviewRequest) -> PublishReview:
    name, asset_id, meta, owner, price = enroll_args(req)
    content_hash = str(meta.get("sha256") or "")
    review = PublishReview(name, asset_id, owner, price, meta, content_hash, earlier=refused_before(engine, content_hash, req.id))
    if DATASET_ID_RE.match(content_hash) and datasets.has(content_hash):
        review.stored = True
        try:
            info = analyze(f"x.{download_extension(meta)}", datasets.get(content_hash), 1 << 62)
        except AppError:
            return review
        review.preview, review.rows = info.preview, info.rows
    return review


def dataset_file(datasets: DatasetStore, req: ReviewRequest) -> tuple[str, bytes]:
    """The file a publication request names, for its reviewer (checked against its hash)."""
    _, asset_id, meta, _, _ = enroll_args(req)
    content_hash = str(meta.get("sha256") or "")
    if not DATASET_ID_RE.match(content_hash):
        raise NotFound("NO_DATASET", "This request names no dataset file.")
    return f"{asset_id}.{download_extension(meta)}", datasets.get(content_hash)
