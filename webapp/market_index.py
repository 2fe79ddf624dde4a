"""The marketplace's search index, fed from committed blocks (see webapp/block_feed.py).

Searching the ledger itself means reading every asset page by page (`listAssets`) on every
query and again for every duplicate-content check. Instead each VALID transaction's writes
of `asset/<id>`, `user/<id>` and `assethistory/<id>/...` update one row per asset, one row
per (word, asset) and one per issuer. Queries then use indexes: words by prefix range,
sorts on indexed columns, the content hash by equality.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from ledger.tools.explorer import TxSummary
from webapp.block_feed import BlockFeed
from webapp.chain import Chain
from webapp.db import session

SEARCH_WORDS_MAX = 8  # words of one query that are looked up; the rest are ignored
WORD_CHARS_MAX = 40  # longer words are indexed and matched by their first characters
PAGE_SIZE = 20
PAGE_SIZE_MAX = 100
PAGE_MAX = 10_000
SORTS = {
    "newest": "newest first",
    "price_asc": "price, lowest first",
    "price_desc": "price, highest first",
    "most_bought": "most bought",
}
_WORD_RE = re.compile(r"[^\W_]+")
_ASSET = "asset/"
_USER = "user/"
_HISTORY = "assethistory/"
_WORD_END = "\U0010ffff"


class MarketAsset(SQLModel, table=True):
    """One asset as the marketplace lists it, with its sales counted from its history."""

    __tablename__ = "market_asset"
    asset_id: str = Field(primary_key=True)
    name: str
    issuer_id: str = Field(index=True)
    description: str = ""
    metadata_json: str = "{}"
    format: str = Field(default="", index=True)
    size: int = 0
    price: int = Field(default=0, index=True)
    is_valid: bool = Field(default=True, index=True)
    enrolled_ms: int = Field(default=0, index=True)
    content_hash: str = Field(default="", index=True)
    purchases: int = Field(default=0, index=True)  # every exchange: copies and transfers
    sales: int = 0  # copies sold by the publisher
    revenue: int = 0  # tokens the publisher earned from those copies


class MarketWord(SQLModel, table=True):
    """The inverted index: one row per distinct word of an asset's searchable text."""

    __tablename__ = "market_word"
    word: str = Field(primary_key=True)
    asset_id: str = Field(primary_key=True, index=True)


class MarketIssuer(SQLModel, table=True):
    """A publisher's display name and organization, as its ledger record says."""

    __tablename__ = "market_issuer"
    user_id: str = Field(primary_key=True)
    name: str
    org: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results and what the page needs to link to the others."""

    assets: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    sort: str


def words_of(*texts: str) -> set[str]:
    """Lowercased words (letters and digits; `load_kw` gives load, kw and load_kw)."""
    found: set[str] = set()
    for text in texts:
        lowered = (text or "").casefold()
        found.update(w[:WORD_CHARS_MAX] for w in _WORD_RE.findall(lowered))
        found.update(w[:WORD_CHARS_MAX] for w in lowered.split() if w.isidentifier())
    return found


def query_words(text: str) -> list[str]:
    words = sorted(words_of(text), key=len, reverse=True)
    return words[:SEARCH_WORDS_MAX]


def _meta(asset: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(asset.get("Metadata") or "{}")
    except (TypeError, ValueError):
        return {"description": str(asset.get("Metadata") or "")}
    return meta if isinstance(meta, dict) else {"description": str(meta)}


def _columns(meta: dict[str, Any]) -> list[str]:
    columns = meta.get("columns")
    if not isinstance(columns, list):
        return []
    return [str(c.get("name", "")) if isinstance(c, dict) else str(c) for c in columns]


class MarketIndex:
    """Catch up from the chain, then answer searches, duplicate checks and sales figures."""

    name = "market"

    def __init__(self, engine: Engine, chain: Chain, feed: BlockFeed) -> None:
        self.engine = engine
        self.chain = chain
        self.feed = feed
        self._prefix = chain.namespace_prefix
        feed.add(self)

    def catch_up(self) -> None:
        self.feed.catch_up()

    # --- feeding --------------------------------------------------------------------------
    def apply(self, db: Session, number: int, timestamp_ms: int, size: int, transactions: list[TxSummary]) -> None:
        for tx in transactions:
            if tx.code == "VALID":
                for key, value, is_delete in tx.writes:
                    self._apply(db, key, value, is_delete, tx.tx_id)

    def _apply(self, db: Session, full_key: str, value: bytes, is_delete: bool, tx_id: str) -> None:
        prefix = self._prefix
        if not full_key.startswith(prefix) or is_delete:
            return
        key = full_key[len(prefix) :]
        try:
            record = json.loads(value)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        if key.startswith(_ASSET):
            self._put_asset(db, record)
        elif key.startswith(_USER):
            identity = str(record.get("Identity") or "")
            db.merge(MarketIssuer(user_id=str(record.get("Id") or key[len(_USER) :]), name=str(record.get("Name") or ""), org=identity.partition("/")[0]))
            db.flush()
        elif key.startswith(_HISTORY) and record.get("Type") == "exchange":
            row = db.get(MarketAsset, str(record.get("AssetId")))
            if row is not None:
                row.purchases += 1
                if record.get("Mode") == "copy":
                    row.sales += 1
                    row.revenue += int(record.get("Value") or 0)
                db.add(row)
                db.flush()

    def _put_asset(self, db: Session, asset: dict[str, Any]) -> None:
        asset_id = str(asset.get("Id") or "")
        if not asset_id:
            return
        meta = _meta(asset)
        row = db.get(MarketAsset, asset_id) or MarketAsset(asset_id=asset_id, name="", issuer_id="")
        row.name = str(asset.get("Name") or "")
        row.issuer_id = str(asset.get("IssuerId") or "")
        row.description = str(meta.get("description") or "")
        row.metadata_json = str(asset.get("Metadata") or "{}")
        row.format = str(meta.get("format") or "")
        row.size = int(meta.get("size") or 0) if str(meta.get("size") or "0").isdigit() else 0
        row.price = int(asset.get("Value") or 0)
        row.is_valid = bool(asset.get("IsValid"))
        row.enrolled_ms = int(asset.get("Enrolled") or 0)
        row.content_hash = str(asset.get("ContentHash") or meta.get("sha256") or "").lower()
        db.add(row)
        issuer = db.get(MarketIssuer, row.issuer_id)
        words = words_of(row.name, asset_id, row.description, row.issuer_id, *_columns(meta), *((issuer.name, issuer.org) if issuer else ()))
        db.exec(delete(MarketWord).where(col(MarketWord.asset_id) == asset_id))
        for word in words:
            db.add(MarketWord(word=word, asset_id=asset_id))
        db.flush()

    # --- queries --------------------------------------------------------------------------
    def search(self, text: str = "", *, fmt: str = "", price_max: int | None = None, on_sale_only: bool = True, sort: str = "newest", page: int = 1, page_size: int = PAGE_SIZE) -> SearchPage:
        """Assets with every word of `text` (as a word prefix, any order, any case)."""
        self.catch_up()
        sort = sort if sort in SORTS else "newest"
        page = min(max(1, page), PAGE_MAX)
        page_size = min(max(1, page_size), PAGE_SIZE_MAX)
        query = select(MarketAsset)
        for word in query_words(text):
            having = select(MarketWord.asset_id).where(col(MarketWord.word) >= word, col(MarketWord.word) < word + _WORD_END)
            query = query.where(col(MarketAsset.asset_id).in_(having))
        if fmt:
            query = query.where(MarketAsset.format == fmt)
        if price_max is not None:
            query = query.where(col(MarketAsset.price) <= price_max)
        if on_sale_only:
            query = query.where(col(MarketAsset.is_valid).is_(True))
        order = {
            "newest": (col(MarketAsset.enrolled_ms).desc(),),
            "price_asc": (col(MarketAsset.price).asc(),),
            "price_desc": (col(MarketAsset.price).desc(),),
            "most_bought": (col(MarketAsset.purchases).desc(), col(MarketAsset.enrolled_ms).desc()),
        }[sort]
        with session(self.engine) as db:
            total = int(db.exec(select(func.count()).select_from(query.subquery())).one())
            pages = max(1, -(-total // page_size))
            page = min(page, pages)
            rows = db.exec(query.order_by(*order, col(MarketAsset.asset_id)).offset((page - 1) * page_size).limit(page_size)).all()
            issuers = {i.user_id: i for i in db.exec(select(MarketIssuer).where(col(MarketIssuer.user_id).in_({r.issuer_id for r in rows})))}
        return SearchPage([self._as_dict(r, issuers.get(r.issuer_id)) for r in rows], total, page, pages, sort)

    @staticmethod
    def _as_dict(row: MarketAsset, issuer: MarketIssuer | None) -> dict[str, Any]:
        return {
            "Id": row.asset_id,
            "Name": row.name,
            "IssuerId": row.issuer_id,
            "IssuerName": issuer.name if issuer else row.issuer_id,
            "IssuerOrg": issuer.org if issuer else "",
            "Value": row.price,
            "IsValid": row.is_valid,
            "Enrolled": row.enrolled_ms,
            "ContentHash": row.content_hash,
            "Purchases": row.purchases,
            "Sales": row.sales,
            "Revenue": row.revenue,
            "meta": _meta({"Metadata": row.metadata_json}),
        }

    def with_content(self, content_hash: str) -> list[dict[str, Any]]:
        """Assets whose dataset has this SHA-256 (the duplicate-content check), by index."""
        self.catch_up()
        with session(self.engine) as db:
            rows = db.exec(select(MarketAsset).where(MarketAsset.content_hash == content_hash.lower()).order_by(col(MarketAsset.enrolled_ms))).all()
        return [self._as_dict(r, None) for r in rows]

    def sales_of(self, issuer_id: str) -> list[dict[str, Any]]:
        """The publisher's assets with copies sold and tokens earned, newest first."""
        self.catch_up()
        with session(self.engine) as db:
            rows = db.exec(select(MarketAsset).where(MarketAsset.issuer_id == issuer_id).order_by(col(MarketAsset.enrolled_ms).desc())).all()
        return [self._as_dict(r, None) for r in rows]

    def issuer(self, user_id: str) -> tuple[str, str] | None:
        """(display name, organization) of a user the index has seen."""
        with session(self.engine) as db:
            found = db.get(MarketIssuer, user_id)
        return (found.name, found.org) if found else None
