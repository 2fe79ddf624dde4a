"""Assets as people see them: the marketplace, an asset's page, publishing and downloading."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from webapp.chain import Chain
from webapp.datasets import FORMAT_WORDS, DatasetInfo, DatasetStore, analyze, asset_content_hash, build_metadata, download_extension
from webapp.db import DatasetRecord, ReviewRequest, session
from webapp.errors import AppError, BadInput, Forbidden, NotFound
from webapp.market_index import PAGE_SIZE, MarketIndex, SearchPage
from webapp.sessions import UserSession
from webapp.settings import Settings
from webapp.workflow import Workflow, check_amount, check_asset_name, check_id

SEARCH_LENGTH_MAX = 100


@dataclass(frozen=True, slots=True)
class Profile:
    """The public face of a member: name and organization, nothing about balance or holdings."""

    user_id: str
    name: str
    org: str

    def as_dict(self) -> dict[str, str]:
        return {"userId": self.user_id, "userName": self.name, "org": self.org}


@dataclass
class AssetView:
    asset: dict[str, Any]
    metadata: dict[str, Any]
    content_hash: str | None
    history: list[dict[str, Any]] = field(default_factory=list)
    preview: list[list[str]] = field(default_factory=list)
    stored: bool = False
    rows: int | None = None  # data rows: from the metadata, else counted in the stored file
    issuer_name: str = ""
    issuer_org: str = ""


def parse_meta(asset: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(asset.get("Metadata") or "{}")
    except (TypeError, ValueError):
        return {"description": str(asset.get("Metadata"))}
    return meta if isinstance(meta, dict) else {"description": str(meta)}


class Catalog:
    def __init__(self, engine: Engine, chain: Chain, datasets: DatasetStore, settings: Settings, index: MarketIndex) -> None:
        self.index = index
        self.engine = engine
        self.chain = chain
        self.datasets = datasets
        self.settings = settings

    def search(
        self, text: str = "", fmt: str = "", price_max: int | None = None, on_sale_only: bool = True, sort: str = "newest", page: int = 1,
        page_size: int = PAGE_SIZE,
    ) -> SearchPage:
        """The marketplace query, answered from the index fed by committed blocks."""
        if fmt and fmt not in FORMAT_WORDS:  # an unknown format is a mistake, not "no assets"
            raise BadInput("BAD_FORMAT", f"format is one of {', '.join(sorted(FORMAT_WORDS))}.")
        return self.index.search(text[:SEARCH_LENGTH_MAX], fmt=fmt, price_max=price_max, on_sale_only=on_sale_only, sort=sort, page=page, page_size=page_size)

    def view(self, asset_id: str) -> AssetView:
        asset_id = check_id(asset_id, "asset id")
        asset = self.chain.query_asset(asset_id)
        if asset is None:
            raise NotFound("ASSET_NOT_FOUND", f"There is no asset {asset_id!r} on the ledger.")
        content_hash = asset_content_hash(asset)
        view = AssetView(asset, parse_meta(asset), content_hash, self.chain.asset_history(asset_id, "all"))
        rows = view.metadata.get("rows")
        view.rows = rows if isinstance(rows, int) else None
        self.index.catch_up()
        view.issuer_name, view.issuer_org = self.index.issuer(str(asset.get("IssuerId"))) or (str(asset.get("IssuerId")), "")
        if content_hash and self.datasets.has(content_hash):
            view.stored = True
            try:
                info = analyze(f"x.{download_extension(view.metadata)}", self.datasets.get(content_hash), 1 << 62)
            except AppError:
                return view
            view.preview = info.preview
            view.rows = info.rows if view.rows is None else view.rows
            if not any(isinstance(c, dict) and "unit" in c for c in view.metadata.get("columns") or []):
                view.metadata = {**view.metadata, "columns": info.columns}  # published before units were inferred
        return view

    def profile(self, user_id: str) -> Profile:
        """Name from the ledger record, organization from the identity it is bound to (`org/name`)."""
        user_id = check_id(user_id, "user id")
        found = self.chain.query_user(user_id)
        if found is None:
            raise NotFound("USER_NOT_FOUND", f"There is no ledger user {user_id!r}.")
        return Profile(user_id, str(found.get("Name") or user_id), str(found.get("Identity") or "").partition("/")[0])

    def holds(self, username: str, asset: dict[str, Any]) -> bool:
        """The publisher or a current holder, per the ledger."""
        if asset.get("IssuerId") == username:
            return True
        user = self.chain.query_user(username)
        return bool(user and asset.get("Id") in (user.get("Assets") or []))

    def upload(self, user: UserSession, filename: str, data: bytes) -> DatasetInfo:
        info = analyze(filename, data, self.settings.dataset_bytes_max)
        self.datasets.put(data)
        with session(self.engine) as db:
            if db.get(DatasetRecord, info.sha256) is None:
                db.add(
                    DatasetRecord(
                        sha256=info.sha256,
                        uploader=user.username,
                        filename=filename[:128],
                        format=info.format,
                        size=info.size,
                        columns_json=json.dumps(info.columns),
                    )
                )
                db.commit()
        return info

    def publish(
        self, workflow: Workflow, user: UserSession, filename: str, data: bytes, name: str, asset_id: str, price: Any, description: str, licence: str
    ) -> ReviewRequest:
        info = analyze(filename, data, self.settings.dataset_bytes_max)
        metadata = build_metadata(info, description, licence, filename)
        check_id(asset_id, "asset id")
        check_asset_name(name)
        check_amount(price, "price", minimum=0)  # every refusal of the form before the file is stored
        workflow.check_publishable(user, asset_id)
        self.upload(user, filename, data)
        return workflow.enroll(user, name, asset_id, metadata, user.username, price)

    def download(self, user: UserSession, asset_id: str) -> tuple[str, bytes]:
        """The file of an asset the user publishes or holds, checked against the ledger's hash."""
        asset_id = check_id(asset_id, "asset id")
        asset = self.chain.query_asset(asset_id)
        if asset is None:
            raise NotFound("ASSET_NOT_FOUND", f"There is no asset {asset_id!r} on the ledger.")
        if not self.holds(user.username, asset):
            raise Forbidden("NOT_A_HOLDER", "Only the publisher and current holders of this asset can download it.")
        content_hash = asset_content_hash(asset)
        if content_hash is None:
            raise NotFound("NO_DATASET", "This asset names no dataset file.")
        data = self.datasets.get(content_hash)  # re-hashes and compares with the ledger's hash
        return f"{asset_id}.{download_extension(parse_meta(asset))}", data
