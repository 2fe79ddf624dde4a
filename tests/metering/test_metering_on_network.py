"""The metering chaincode end to end through the real embedded network and the real CLI:
simulate a month of two meters (with anomalies), settle it, read bills, alerts and the chain
check back, set a tariff as the regulator, and check every peer verifies and agrees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaincode.metering.tariffs import DEFAULT_TARIFF
from ledger.node.init import init_network
from ledger.node.spec import default_config_path

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from ledger.tools.cli import app; app()"]
BATCH_TIMEOUT_MS = 10
METERS, DAYS = 2, 28  # February 2026: one whole local month


def cli(*args: str, timeout: float = 300) -> tuple[int, Any]:
    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING"}
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    try:
        return done.returncode, json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"not JSON (exit {done.returncode}): {done.stdout[-2000:]!r} {done.stderr[-2000:]!r}") from None


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("metering")
    spec = yaml.safe_load(default_config_path().read_text())
    spec["orderer"]["batch"]["batch_timeout_ms"] = BATCH_TIMEOUT_MS
    config = directory / "network.yaml"
    config.write_text(yaml.safe_dump(spec))
    os.environ["GRIDLEDGER_FAST_KDF"] = "1"
    init_network(config, directory / "net", admin_password="metering-test-pw")
    return directory / "net"


def test_simulate_settle_and_read_back(data: Path) -> None:
    d = str(data)
    code, sim = cli("meters", "simulate", "--data", d, "--meters", str(METERS), "--days", str(DAYS), "--start", "2026-02-01", "--anomalies", "--seed", "7", "--json")
    assert code == 0, sim
    assert sim["meters"] == ["ORG1-M0001", "ORG1-M0002"] and sim["batches"] == METERS * DAYS and sim["readings"] == METERS * DAYS * 96
    assert sim["alerts"] >= 3 * METERS and sim["refused"] == {}

    code, listed = cli("query", "--data", d, "--chaincode", "metering", "--as", "Org1/admin", "listAlerts", "ORG1-M0001")
    assert code == 0 and {"LOAD_OVER_RATED", "LOW_POWER_FACTOR", "SPIKE"} <= {a["rule"] for a in listed["result"]}
    code, chain = cli("query", "--data", d, "--chaincode", "metering", "--as", "Org1/collector", "verifyMeterChain", "ORG1-M0002")
    assert code == 0 and chain["result"] == {"ok": True, "meterId": "ORG1-M0002", "batches": DAYS, "problems": []}
    code, refused = cli("query", "--data", d, "--chaincode", "metering", "verifyMeterChain", "ORG1-M0002")  # as cli-reader: a plain client of Org1
    assert code == 1 and refused["code"] == "NOT_METER_STAFF", refused

    code, settled = cli("settle", "--data", d, "--period", "2026-02", "--json")
    assert code == 0, settled
    assert [b["meterId"] for b in settled["bills"]] == ["ORG1-M0001", "ORG1-M0002"] and settled["refused"] == []
    code, bill = cli("query", "--data", d, "--chaincode", "metering", "--as", "Org1/collector", "queryBill", "ORG1-M0001", "2026-02")
    assert code == 0 and bill["result"]["total_fen"] == settled["bills"][0]["total_fen"] > 0
    assert bill["result"]["intervals"] == DAYS * 96 and sum(line["amount_fen"] for line in bill["result"]["lines"]) == bill["result"]["total_fen"]

    code, again = cli("settle", "--data", d, "--period", "2026-02", "--json")
    assert code == 0 and {r["code"] for r in again["refused"]} == {"BILL_EXISTS"} and again["bills"] == []
    code, early = cli("settle", "--data", d, "--period", "2026-03", "--json")
    assert code == 1 and {r["code"] for r in early["refused"]} == {"READINGS_INCOMPLETE"}

    code, replay = cli("meters", "simulate", "--data", d, "--meters", "1", "--days", "1", "--start", "2026-02-01", "--json")
    assert code == 1 and replay["refused"] == {"DUPLICATE_READING": 1}
    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING"}
    done = subprocess.run([*CLI, "meters", "simulate", "--data", d, "--meters", "1", "--days", "1", "--start", "2026-02-01"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 1 and done.stdout.strip() == "1 meters, 0 batches, 0 readings, 0 alerts, refused DUPLICATE_READING x1", done.stdout  # words, not a dict's repr


def test_regulator_levels_from_the_cli(data: Path) -> None:
    """Simulated meters: M0001 in CN-32-01, M0002 in CN-32-02 (both 0.4 kV)."""
    d = str(data)
    for name, level, region in (("jiangsu", "province", "CN-32"), ("beijing", "city", "CN-11-01")):
        code, made = cli("meters", "regulator", name, "--level", level, "--region", region, "--data", d)
        assert code == 0 and made == {"identity": f"Regulator/{name}", "level": level, "region": region}
    code, seen = cli("query", "--data", d, "--chaincode", "metering", "--as", "Regulator/jiangsu", "listMeters")
    if not (code == 0 and {"ORG1-M0001", "ORG1-M0002"} <= {m["meterId"] for m in seen["result"]}):  # what the admin sees, to tell scope from state
        _, everything = cli("query", "--data", d, "--chaincode", "metering", "--as", "Regulator/admin", "listMeters")
        _, status = cli("status", "--data", d)
        user = json.loads((data / "orgs" / "Regulator" / "users" / "jiangsu.json").read_text())
        raise AssertionError(f"jiangsu saw {seen}; the admin sees {[(m['meterId'], m.get('region')) for m in everything['result']]}; status {status}; identity {sorted(user)}")
    code, seen = cli("query", "--data", d, "--chaincode", "metering", "--as", "Regulator/beijing", "listMeters")
    assert code == 0 and not {"ORG1-M0001", "ORG1-M0002"} & {m["meterId"] for m in seen["result"]}
    code, refused = cli("query", "--data", d, "--chaincode", "metering", "--as", "Regulator/beijing", "queryBill", "ORG1-M0001", "2026-02")
    assert code == 1 and refused["code"] == "NOT_IN_SCOPE"
    code, bad = cli("meters", "regulator", "x", "--level", "county", "--region", "CN", "--data", d)
    assert code == 2 and bad["code"] == "BAD_LEVEL"  # a malformed option value: the command line is wrong


def test_a_malformed_option_value_is_a_command_line_error(data: Path) -> None:
    """Exit 2 with its code, like the parser's own refusals (`bench --rates abc`), and
    nothing written: a date, a period, a level, a region or a name that cannot be one."""
    d = str(data)
    height = cli("status", "--data", d)[1]
    tried = {
        "BAD_DATE": ("meters", "simulate", "--data", d, "--start", "2026-13-01", "--json"),
        "BAD_PERIOD": ("settle", "--data", d, "--period", "2026-2", "--json"),
        "BAD_LEVEL": ("meters", "regulator", "x", "--level", "county", "--region", "CN", "--data", d),
        "BAD_REGION": ("meters", "regulator", "x", "--level", "city", "--region", "cn_32", "--data", d),
        "BAD_ARGUMENT": ("meters", "regulator", "../x", "--level", "city", "--region", "CN-32-01", "--data", d),
    }
    for want, args in tried.items():
        code, refused = cli(*args)
        assert (code, refused["code"]) == (2, want), (args, refused)
    assert cli("status", "--data", d)[1] == height, "a refused command line changed the ledger"
    print("malformed option values refused with exit 2:", len(tried))


def test_regulator_sets_a_tariff_and_peers_agree(data: Path) -> None:
    d = str(data)
    tariff = {**DEFAULT_TARIFF, "tariffId": "CN-BIZ", "effective_from": "2026-03-01"}
    code, out = cli("invoke", "--data", d, "--chaincode", "metering", "--as", "Regulator/admin", "tariffSet", "CN-BIZ", json.dumps(tariff))
    assert code == 0 and out["code"] == "VALID" and out["result"]["version"] == 1, out
    code, out = cli("invoke", "--data", d, "--chaincode", "metering", "--as", "Org1/admin", "tariffSet", "CN-BIZ", json.dumps(tariff))
    assert code == 1 and out["code"] == "NOT_AUTHORIZED"
    code, out = cli("invoke", "--data", d, "--chaincode", "nope", "--as", "Org1/admin", "listMeters")
    assert code == 1 and out["code"] == "UNKNOWN_CHAINCODE"
    code, report = cli("verify", "--data", d)
    assert code == 0 and report["ok"] is True, report
    code, status = cli("status", "--data", d)
    assert code == 0 and status["in_sync"] is True


def test_bench_workload_metering(data: Path, tmp_path: Path) -> None:
    code, report = cli("bench", "--data", str(data), "--workload", "metering", "--tx", "28", "--rates", "0,4", "--one-process", "--json", "--report", str(tmp_path / "report"))
    assert code == 0, report
    ingest, settle, paced_ingest, paced_settle = report["rounds"]
    assert (ingest["label"], ingest["sent"], ingest["succ"], ingest["fail"]) == ("ingest meter-days@max", 28, 28, 0)
    assert (settle["label"], settle["sent"], settle["succ"]) == ("settle bills@max", 1, 1)
    assert ingest["throughput_tps"] > 0 and report["in_sync"] is True and report["meters"] == 1 and report["rates"] == [0, 4]
    # --rates 4: 28 meter-days sent no faster than 4 per second (the 28th no earlier than 6.75 s after the first)
    assert (paced_ingest["label"], paced_ingest["succ"]) == ("ingest meter-days@4/s", 28) and paced_ingest["duration_s"] >= 27 / 4
    assert paced_ingest["send_rate_tps"] <= 4 and (paced_settle["label"], paced_settle["succ"]) == ("settle bills@4/s", 1)
    assert (tmp_path / "report" / "report.html").exists()
    assert report["machine"]["ed25519_verify_us"] > 0 and "Ed25519 verify" in (tmp_path / "report" / "report.html").read_text()
    code, unknown = cli("bench", "--data", str(data), "--workload", "nope", "--tx", "1", "--one-process", "--json")
    assert code == 1 and unknown["code"] == "UNKNOWN_CHAINCODE"


def test_simulate_shows_a_progress_bar_on_a_terminal(data: Path) -> None:
    """On a terminal (a pty as stderr) `meters simulate` draws a progress bar of its batches;
    piped (the --json runs above) it prints nothing but its report."""
    import pty
    import select

    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING", "COLUMNS": "100", "TERM": "xterm"}
    master, slave = pty.openpty()
    args = ["meters", "simulate", "--data", str(data), "--meters", "1", "--days", "2", "--start", "2026-01-05"]
    process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=slave, env=env, cwd=ROOT)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    stdout, _ = process.communicate(timeout=300)
    os.close(master)
    assert process.returncode == 0, (stdout, seen[-2000:])
    assert b"batches" in seen and b"\x1b[" in seen, seen[-2000:]  # the bar's label, drawn with terminal codes
    assert stdout.decode().strip() == "1 meters, 2 batches, 192 readings, 0 alerts"


def test_register_one_meter_from_the_cli(data: Path) -> None:
    """`meters register` is how a person registers a meter by hand (meterRegister needs the
    meter's certificate as a co-signer, which `invoke` cannot give): the record, its key file;
    a second time METER_EXISTS; a refused registration keeps no key, so the retry with the
    corrected region works; an id that is not one is refused before it names a file."""
    d = str(data)
    base = ["meters", "register", "--data", d, "--customer", "hand", "--rated-kw", "7.5", "--voltage-kv", "0.4"]
    code, refused = cli(*base, "ORG1-HAND-1", "--region", "cn_32")
    assert (code, refused["code"]) == (1, "BAD_REGION"), refused
    code, record = cli(*base, "ORG1-HAND-1", "--region", "CN-32-03")
    assert code == 0 and (record["meterId"], record["region"], record["rated_w"], record["status"]) == ("ORG1-HAND-1", "CN-32-03", 7500, "active"), record
    assert Path(record["keyFile"]).is_file() and "hand" not in json.dumps(record)
    code, again = cli(*base, "ORG1-HAND-1", "--region", "CN-32-03")
    assert (code, again["code"]) == (1, "METER_EXISTS")
    code, bad = cli(*base, "../escape", "--region", "CN-32-03")
    assert (code, bad["code"]) == (1, "BAD_ID") and not list(data.rglob("escape*"))
    code, listed = cli("meters", "list", "--data", d)
    assert code == 0 and "ORG1-HAND-1" in {m["meterId"] for m in listed["meters"]}
