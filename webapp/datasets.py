"""Datasets: the files behind assets, off the ledger, content-addressed and encrypted at rest.

Stored as `<data_dir>/console/datasets/<sha256 hex>` sealed with SecretBox under a key file
(`dataset.key`, owner-only). Ids are validated as 64 hex digits, so no id can name a path
outside the store. Reading re-computes the hash: a file that does not match is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.secret
import nacl.utils

from ledger.core.identity import write_private_file
from ledger.node.layout import NetworkLayout
from webapp.dictionary import describe_column
from webapp.errors import AppError, BadInput, NotFound, TooLarge, UnsupportedType
from webapp.settings import DATASET_BYTES_MAX

DATASET_ID_RE = re.compile(r"^[0-9a-f]{64}$")
FORMATS = {".csv": "csv", ".json": "json"}
# metadata `format` is one of these words: it names the download's file extension, so free
# text there could smuggle quotes or CR/LF into a Content-Disposition header
FORMAT_WORDS = frozenset(FORMATS.values())
JSON_DEPTH_MAX = 32  # a record is a flat object; deeper files are refused before any use
PREVIEW_ROWS_MAX = 10
COLUMNS_MAX = 200
TYPE_SAMPLE_ROWS = 200
DESCRIPTION_LENGTH_MAX = 2000
LICENCE_LENGTH_MAX = 500


def check_dataset_id(dataset_id: str) -> str:
    if not isinstance(dataset_id, str) or not DATASET_ID_RE.match(dataset_id):
        raise BadInput("BAD_DATASET_ID", "A dataset id is the file's SHA-256: 64 lowercase hex digits.")
    return dataset_id


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    sha256: str
    size: int
    format: str
    columns: list[dict[str, str]]  # the data dictionary: name, inferred type, unit where evident
    preview: list[list[str]]  # header row first
    rows: int = 0  # data rows (CSV lines after the header, JSON records)


def _csv_rows(text: str) -> list[list[str]]:
    """Every row; a cell over the csv module's field limit is a 400, not a server error."""
    try:
        return list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise BadInput(
                "CSV_FIELD_TOO_LARGE", f"A CSV cell is longer than {csv.field_size_limit()} characters; split it or publish JSON."
            ) from None
        raise BadInput("BAD_DATASET", f"The CSV file does not parse: {exc}.") from None


def _analyze_csv(text: str) -> tuple[list[dict[str, str]], list[list[str]], int]:
    rows = _csv_rows(text)
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise BadInput("EMPTY_DATASET", "The CSV file has no header row.")
    if not any(any(cell.strip() for cell in row) for row in rows[1:]):
        raise BadInput("NO_DATA_ROWS", "The CSV file has a header but no data rows: there is nothing to sell.")
    header = [cell.strip() for cell in rows[0]][:COLUMNS_MAX]
    body = rows[1 : 1 + TYPE_SAMPLE_ROWS]
    columns = [describe_column(name, [row[i] for row in body if i < len(row)]) for i, name in enumerate(header)]
    return columns, [header] + [row[: len(header)] for row in rows[1 : 1 + PREVIEW_ROWS_MAX]], sum(1 for row in rows[1:] if any(c.strip() for c in row))


def _json_depth(value: Any) -> int:
    """Nesting depth, walked without recursion (a deep file must not exhaust the stack here)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth > JSON_DEPTH_MAX:
                return depth
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _analyze_json(text: str) -> tuple[list[dict[str, str]], list[list[str]], int]:
    too_deep = BadInput("JSON_TOO_DEEP", f"The JSON file nests deeper than {JSON_DEPTH_MAX} levels; a dataset is a list of flat records.")
    try:
        data = json.loads(text)
    except RecursionError:  # the parser gave up long before the end of a 100,000-deep file
        raise too_deep from None
    except ValueError as exc:
        raise BadInput("BAD_DATASET", f"The JSON file does not parse: {exc}.") from None
    if _json_depth(data) > JSON_DEPTH_MAX:
        raise too_deep
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), [data])
    records = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
    if not records:
        raise BadInput("BAD_DATASET", "A JSON dataset is a list of records (objects).")
    names: list[str] = []
    for record in records[:TYPE_SAMPLE_ROWS]:
        names.extend(k for k in record if k not in names)
    names = names[:COLUMNS_MAX]
    sample = records[:TYPE_SAMPLE_ROWS]
    columns = [describe_column(n, [str(r.get(n, "")) for r in sample]) for n in names]
    preview = [names] + [[str(r.get(n, "")) for n in names] for r in records[:PREVIEW_ROWS_MAX]]
    return columns, preview, len(records)


def analyze(filename: str, data: bytes, bytes_max: int = DATASET_BYTES_MAX) -> DatasetInfo:
    """Checks type and size and reads the data dictionary; raises 413 / 415 / 400 refusals."""
    if len(data) > bytes_max:
        raise TooLarge("DATASET_TOO_LARGE", f"A dataset may have at most {bytes_max} bytes; this one has {len(data)}.")
    suffix = Path(filename or "").suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        allowed = ", ".join(sorted(FORMATS))
        raise UnsupportedType(
            "UNSUPPORTED_FILE_TYPE", f"Only {allowed} datasets can be published; {filename or 'this file'!r} is not one."
        )
    if not data:
        raise BadInput("EMPTY_DATASET", "The file is empty.")
    if b"\x00" in data:
        raise BadInput("NUL_BYTES", "The file contains NUL bytes: it is not a text dataset.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput("BAD_DATASET", "The file is not UTF-8 text.") from None
    columns, preview, rows = _analyze_csv(text) if fmt == "csv" else _analyze_json(text)
    return DatasetInfo(hashlib.sha256(data).hexdigest(), len(data), fmt, columns, preview, rows)


def build_metadata(info: DatasetInfo, description: str, licence: str, filename: str) -> str:
    description = (description or "").strip()
    licence = (licence or "").strip()
    if len(description) > DESCRIPTION_LENGTH_MAX:
        raise BadInput("BAD_DESCRIPTION", f"A description has at most {DESCRIPTION_LENGTH_MAX} characters.")
    if not licence or len(licence) > LICENCE_LENGTH_MAX:
        raise BadInput("BAD_LICENCE", f"State the licence terms (1 to {LICENCE_LENGTH_MAX} characters).")
    meta = {
        "sha256": info.sha256,
        "size": info.size,
        "format": info.format,
        "columns": info.columns,
        "rows": info.rows,
        "description": description,
        "licence": licence,
        "filename": Path(filename).name[:128],
    }
    return json.dumps(meta, sort_keys=True, separators=(",", ":"))


def parse_metadata(metadata: str) -> dict[str, Any]:
    """Metadata as sent to assetsEnroll: a JSON object with at least a SHA-256."""
    try:
        meta = json.loads(metadata)
    except (TypeError, ValueError):
        raise BadInput("BAD_METADATA", "metadata is a JSON object (sha256, size, format, columns, description, licence).") from None
    if not isinstance(meta, dict) or not DATASET_ID_RE.match(str(meta.get("sha256", ""))):
        raise BadInput("BAD_METADATA", "metadata needs a 'sha256' field: the dataset's SHA-256 in hex.")
    for name in ("licence", "format"):
        if not isinstance(meta.get(name), str) or not meta.get(name):
            raise BadInput("BAD_METADATA", f"metadata needs a '{name}' field.")
    if meta["format"] not in FORMAT_WORDS:
        raise BadInput("BAD_FORMAT", f"metadata 'format' is one of {', '.join(sorted(FORMAT_WORDS))}.")
    return meta


def download_extension(meta: dict[str, Any]) -> str:
    """The file extension a download is named with: an allowed format word, else 'bin' (assets
    published before the allow-list may carry anything there)."""
    fmt = meta.get("format")
    return fmt if isinstance(fmt, str) and fmt in FORMAT_WORDS else "bin"


def asset_content_hash(asset: dict[str, Any]) -> str | None:
    """The on-chain hash of an asset's dataset: ContentHash, else metadata.sha256."""
    value = asset.get("ContentHash")
    if isinstance(value, str) and DATASET_ID_RE.match(value):
        return value
    try:
        value = json.loads(asset.get("Metadata") or "{}").get("sha256")
    except (TypeError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and DATASET_ID_RE.match(value) else None


class DatasetStore:
    def __init__(self, data_dir: Path) -> None:
        layout = NetworkLayout(data_dir)
        self.root = layout.datasets_dir.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        key_path = layout.dataset_key_file
        if not key_path.exists():
            write_private_file(key_path, nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE).hex())
        self._box = nacl.secret.SecretBox(bytes.fromhex(key_path.read_text().strip()))

    def _path(self, dataset_id: str) -> Path:
        path = (self.root / check_dataset_id(dataset_id)).resolve()
        assert path.parent == self.root, "dataset path escaped the store"
        return path

    def put(self, data: bytes) -> str:
        dataset_id = hashlib.sha256(data).hexdigest()
        path = self._path(dataset_id)
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as handle:
                handle.write(bytes(self._box.encrypt(data)))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        return dataset_id

    def has(self, dataset_id: str) -> bool:
        return self._path(dataset_id).exists()

    def get(self, dataset_id: str) -> bytes:
        """The plaintext, checked against its id (the hash); raises NotFound / AppError."""
        path = self._path(dataset_id)
        if not path.exists():
            raise NotFound("DATASET_NOT_STORED", "The dataset file is not stored on this console.")
        data = bytes(self._box.decrypt(path.read_bytes()))
        if hashlib.sha256(data).hexdigest() != dataset_id:
            raise AppError("DATASET_CORRUPT", "The stored file does not match the hash on the ledger; it is not sent.", 500)
        return data
