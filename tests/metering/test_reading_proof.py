"""A reading's inclusion proof up to the block header, built on the real embedded network and
checked offline with only the genesis block; every tampered link is caught (counted)."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaincode.metering.keys import reading_key
from chaincode.metering.proofs import check_reading_proof
from chaincode.metering.tools.client import MeteringClient
from chaincode.shim import canonical_json
from ledger.core.channel_config import genesis_config
from ledger.core.identity import CertificateAuthority
from ledger.node.init import init_network
from ledger.node.material import read_genesis
from ledger.node.network import Network
from ledger.node.spec import default_config_path

ROOT = Path(__file__).resolve().parents[2]
START = "2026-11-03T10:15:00Z"


def _readings(first_hour: int) -> list[dict[str, Any]]:
    return [{"start": f"2026-11-03T{first_hour + q // 4:02d}:{15 * (q % 4):02d}:00Z", "wh": 100 + q, "varh": 10, "peak_w": 600} for q in range(8)]


@pytest.fixture(scope="module")
def proven(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    directory = tmp_path_factory.mktemp("proof")
    spec = yaml.safe_load(default_config_path().read_text())
    spec["orderer"]["batch"]["batch_timeout_ms"] = 5
    (directory / "network.yaml").write_text(yaml.safe_dump(spec))
    os.environ["GRIDLEDGER_FAST_KDF"] = "1"
    init_network(directory / "network.yaml", directory / "net", admin_password="proof-test-pw")
    with Network.open(directory / "net") as net:
        client = MeteringClient(net)
        meter = client.ensure_meter("P-1", customer="c1", rated_kw="8", region="CN-32-01", voltage_kv="0.4")
        for first_hour in (8, 10):  # the reading is in the second batch
            assert all(o.ok for o in client.submit_round([(meter, _readings(first_hour))]))
        proof = client.reading_proof("P-1", START)
    yield directory / "net", proof


def _anchors(data: Path) -> tuple[dict[str, bytes], str]:
    config = genesis_config(read_genesis(data / "genesis.block"))
    return {o.name: o.ca_public_key for o in config.orgs}, config.orderers[0].org


def _flip_hex(text: str, at: int = 10) -> str:
    return text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1:]


TAMPERS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("reading energy changed", lambda p: p["reading"].update(wh=p["reading"]["wh"] + 1), "not one of the batch's readings"),
    ("batch reading changed too", lambda p: (p["reading"].update(wh=1), p["batch"]["readings"][1].update(wh=1)), "not signed by the meter's key"),
    ("batch signature replaced", lambda p: p["batch"].update(sig="00" * 64), "not signed by the meter's key"),
    ("meter certificate damaged", lambda p: p.update(meter_certificate=_flip_hex(p["meter_certificate"], 200)), "certificate"),
    ("envelope byte flipped", lambda p: p.update(envelope=_flip_hex(p["envelope"], 400)), "Merkle path"),
    ("Merkle sibling changed", lambda p: p["path"][0].update(sibling=_flip_hex(p["path"][0]["sibling"])) if p["path"] else p["header"].update(data_hash=_flip_hex(p["header"]["data_hash"])), "Merkle path"),
    ("header data hash changed", lambda p: p["header"].update(data_hash=_flip_hex(p["header"]["data_hash"])), "Merkle path"),
    ("header timestamp changed", lambda p: p["header"].update(timestamp_ms=p["header"]["timestamp_ms"] + 1), "block hash"),
    ("orderer signature changed", lambda p: p.update(orderer_signature=_flip_hex(p["orderer_signature"])), "orderer's signature"),
    ("another meter's id claimed", lambda p: p.update(meterId="P-2"), "certificate is not that of the batch's meter"),
    ("a field removed", lambda p: p.pop("envelope"), "malformed"),
]


def test_proof_checks_offline_and_every_tampering_fails(proven: tuple[Path, dict[str, Any]]) -> None:
    data, proof = proven
    anchors, orderer_org = _anchors(data)
    assert proof["reading"] == {"start": START, "wh": 101, "varh": 10, "peak_w": 600} and proof["validation_code"] == "VALID"
    assert check_reading_proof(proof, anchors, orderer_org) == []
    tried = held = 0
    for case, tamper, words in TAMPERS:
        forged = copy.deepcopy(proof)
        tamper(forged)
        problems = check_reading_proof(forged, anchors, orderer_org)
        tried += 1
        held += bool(problems) and any(words in problem for problem in problems)
        assert problems and any(words in problem for problem in problems), (case, problems)
    assert (tried, held) == (len(TAMPERS), len(TAMPERS))
    strangers = {org: CertificateAuthority.generate(org).public_key for org in anchors}
    assert len(check_reading_proof(proof, strangers, orderer_org)) == 2  # another network's anchors: meter and orderer refused


def test_cli_prove_and_check_proof(proven: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    data, _ = proven
    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING"}
    cli = [sys.executable, "-c", "from ledger.tools.cli import app; app()"]
    done = subprocess.run([*cli, "meters", "prove", "--data", str(data), "P-1", START], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(done.stdout)
    check = [*cli, "meters", "check-proof", str(proof_file), "--genesis", str(data / "genesis.block")]
    done = subprocess.run(check, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0 and json.loads(done.stdout)["ok"] is True, done.stdout
    forged = json.loads(proof_file.read_text())
    forged["reading"]["wh"] += 1
    proof_file.write_text(json.dumps(forged))
    done = subprocess.run(check, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 1 and json.loads(done.stdout)["ok"] is False
    done = subprocess.run([*cli, "meters", "prove", "--data", str(data), "P-1", "2026-11-03T23:00:00Z"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 1 and json.loads(done.stdout)["code"] == "UNKNOWN_READING"
    # a start off the quarter hour is refused, not answered with the proof of the reading after it
    done = subprocess.run([*cli, "meters", "prove", "--data", str(data), "P-1", "2026-11-03T10:07:00Z"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 1 and json.loads(done.stdout)["code"] == "MISALIGNED_INTERVAL", done.stdout


def test_check_proof_refuses_a_document_that_is_not_a_proof(proven: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """A JSON array, or an object whose parts have the wrong types, is {code, message} or
    {"ok": false} with exit 1, never INTERNAL_ERROR."""
    data, proof = proven
    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING"}
    cli = [sys.executable, "-c", "from ledger.tools.cli import app; app()"]
    for name, document in (("array", []), ("text", "a proof"), ("header-text", {**proof, "header": "x"}), ("empty", {})):
        proof_file = tmp_path / f"{name}.json"
        proof_file.write_text(json.dumps(document))
        done = subprocess.run([*cli, "meters", "check-proof", str(proof_file), "--genesis", str(data / "genesis.block")], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
        out = json.loads(done.stdout)
        assert done.returncode == 1 and "Traceback" not in done.stderr, (name, done.stdout, done.stderr[-1000:])
        assert out.get("code") == "BAD_PROOF" or (out.get("ok") is False and out["problems"]), (name, out)


def _edit_state(data: Path, key: str, change: Callable[[dict[str, Any]], None] | None) -> int:
    """Change (or, with None, delete) one metering record straight in every peer's SQLite state,
    as someone with the database files could; returns how many peers' databases held it."""
    edited = 0
    for db_file in sorted(data.glob("orgs/*/nodes/*/state.sqlite")):
        with sqlite3.connect(db_file) as db:
            row = db.execute("SELECT value FROM state WHERE key = ?", (f"metering/{key}",)).fetchone()
            if row is None:
                continue
            if change is None:
                db.execute("DELETE FROM state WHERE key = ?", (f"metering/{key}",))
            else:
                record = json.loads(row[0])
                change(record)
                db.execute("UPDATE state SET value = ? WHERE key = ?", (canonical_json(record), f"metering/{key}"))
            edited += 1
    return edited


def test_reading_records_edited_or_deleted_in_the_state_db_are_named(proven: tuple[Path, dict[str, Any]]) -> None:
    """Runs last in this module: it tampers with the network's state. The chain check and
    `meters prove` name the edited and the deleted reading record; the batches still verify."""
    data, _ = proven
    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING"}
    cli = [sys.executable, "-c", "from ledger.tools.cli import app; app()"]
    edited_key, deleted_key = reading_key("P-1", START), reading_key("P-1", "2026-11-03T08:30:00Z")
    assert _edit_state(data, edited_key, lambda r: r.update(wh=1)) >= 2
    assert _edit_state(data, deleted_key, None) >= 2

    def run(*args: str) -> tuple[int, Any]:
        done = subprocess.run([*cli, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert "Traceback" not in done.stderr, done.stderr[-2000:]
        return done.returncode, json.loads(done.stdout)

    code, out = run("query", "--data", str(data), "--chaincode", "metering", "--as", "Org1/collector", "verifyMeterChain", "P-1")
    assert code == 0 and out["result"]["ok"] is False and out["result"]["batches"] == 2
    problems = {p["key"]: p["problem"] for p in out["result"]["problems"]}
    assert set(problems) == {edited_key, deleted_key}, problems
    assert "was edited: wh 1 (signed: 101)" in problems[edited_key] and "was deleted: batch 1 signed it" in problems[deleted_key]
    code, out = run("meters", "prove", "--data", str(data), "P-1", START)
    assert (code, out["code"]) == (1, "READING_RECORD_EDITED") and edited_key in out["message"]
    code, out = run("meters", "prove", "--data", str(data), "P-1", "2026-11-03T08:30:00Z")
    assert (code, out["code"]) == (1, "READING_RECORD_DELETED") and deleted_key in out["message"]
