"""The metering chaincode's commands in `gridledger` (added through `commands:` in the network
file): `meters register|simulate|list|regulator|prove|check-proof` and `settle`."""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from chaincode.metering.tools.client import CHAINCODE, MeteringClient
from chaincode.metering.tools.simulate import DAYS_MAX, METERS_MAX, simulate

meters_app = typer.Typer(help="Smart meters of the metering chaincode: register, simulate, list, prove.", no_args_is_help=True)
DataOption = typer.Option(Path("data"), "--data", help="Directory of the network (made by `gridledger init`).")
PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def register(app: typer.Typer) -> None:
    """Entry point named by the network file: add these commands to the `gridledger` CLI."""
    app.add_typer(meters_app, name="meters")
    app.command(name="settle")(settle)


@contextmanager
def _progress(total: int, label: str, quiet: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on a terminal (stderr); nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:  # stdout stays the report
        task = progress.add_task(label, total=total)
        yield lambda: progress.advance(task)


@meters_app.command("simulate")
def simulate_command(
    data: Path = DataOption,
    meters: int = typer.Option(10, "--meters", min=1, max=METERS_MAX, help="How many meters of --org."),
    days: int = typer.Option(1, "--days", min=1, max=DAYS_MAX, help="Local days of readings, one signed batch per meter and day."),
    start: str = typer.Option(..., "--start", help="First local day, YYYY-MM-DD (in the past)."),
    anomalies: bool = typer.Option(False, "--anomalies", help="Inject an overload, a low power factor and a spike per meter on the first day."),
    seed: int = typer.Option(1, "--seed", help="Seed of the load shapes (same seed, same readings)."),
    org: str = typer.Option("Org1", "--org", help="Organization whose meters these are."),
    as_json: bool = typer.Option(False, "--json", help="Print {meters, batches, readings, alerts, refused} as JSON."),
) -> None:
    """Register meters (if needed) and submit realistic signed daily batches through the gateway."""
    from ledger.core.errors import LedgerError
    from ledger.tools.cli import emit, fail, fail_usage, open_network

    try:
        first = dt.date.fromisoformat(start)
    except ValueError:
        fail_usage("BAD_DATE", f"--start must be a date YYYY-MM-DD, got {start!r}")
    net = open_network(data)
    try:
        with _progress(meters * days, "batches", as_json) as advance:
            report = simulate(net, meters=meters, days=days, start=first, anomalies=anomalies, seed=seed, org=org, on_batch=advance)
    except LedgerError as exc:
        fail(exc.code, exc.message)
    finally:
        net.close()
    document = report.as_dict()
    if as_json:
        emit(document, 1 if report.refused else 0)
    typer.echo(f"{len(report.meters)} meters, {report.batches} batches, {report.readings} readings, {report.alerts} alerts" + (", refused " + ", ".join(f"{code} x{n}" for code, n in sorted(report.refused.items())) if report.refused else ""))
    raise typer.Exit(1 if report.refused else 0)


@meters_app.command("regulator")
def regulator_command(
    name: str = typer.Argument(..., help="Name of the regulator identity (then --as Regulator/NAME)."),
    level: str = typer.Option(..., "--level", help="national, province or city."),
    region: str = typer.Option(..., "--region", help="Region code, e.g. CN-32 (province) or CN-32-01 (city)."),
    data: Path = DataOption,
) -> None:
    """Enroll a regulator identity with level and region attributes (what scopes its reads)."""
    from chaincode.metering.access import LEVELS
    from chaincode.metering.errors import REGION_PATTERN
    from ledger.tools.cli import emit, fail, fail_usage, open_network

    if level not in LEVELS:
        fail_usage("BAD_LEVEL", f"--level is one of {', '.join(LEVELS)}")
    if not re.fullmatch(REGION_PATTERN, region):
        fail_usage("BAD_REGION", f"--region must be a code path like CN-32-01, got {region!r}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        fail_usage("BAD_ARGUMENT", f"name {name!r} must be 1-64 letters, digits, _ or -")
    net = open_network(data)
    try:
        org = net.approver_org
        path = net.layout.user_file(org, name)
        if path.exists():
            fail("USER_EXISTS", f"{org}/{name} already exists in {path.parent}")
        identity = net.enroll(org, name, "client", {"level": level, "region": region})
        identity.save(path)
    finally:
        net.close()
    emit({"identity": identity.id, "level": level, "region": region})


@meters_app.command("register")
def register_command(
    meter_id: str = typer.Argument(..., help="Meter id, e.g. ORG1-HOME-17 (1 to 40 of A-Z a-z 0-9 _ -)."),
    customer: str = typer.Option(..., "--customer", help="Who the customer is (only its salted SHA-256 goes on the ledger)."),
    rated_kw: str = typer.Option(..., "--rated-kw", help="Rated power in kW, e.g. 8 or 7.5."),
    region: str = typer.Option(..., "--region", help="Region code path, e.g. CN-32-01."),
    voltage_kv: str = typer.Option(..., "--voltage-kv", help="Supply voltage in kV, e.g. 0.4 or 10."),
    tariff: str = typer.Option("CN-RES-TOU", "--tariff", help="Tariff id the meter is billed on."),
    data: Path = DataOption,
    org: str = typer.Option("Org1", "--org", help="Organization the meter belongs to (its admin registers it)."),
) -> None:
    """Register one meter: its key and certificate (role meter) from the organization's CA, and
    meterRegister signed by the organization's admin and the meter's certificate."""
    from chaincode.metering.checks import check_id
    from ledger.core.errors import LedgerError
    from ledger.tools.cli import emit, fail, open_network

    try:
        check_id(meter_id, "meterId")  # before it names the key file
    except LedgerError as exc:
        fail(exc.code, exc.message)
    net = open_network(data)
    try:
        client = MeteringClient(net, org)
        if client.meter_or_none(meter_id) is not None:
            fail("METER_EXISTS", f"meter {meter_id!r} is already registered")
        key_file = client.key_file(meter_id)
        fresh_key = not key_file.exists()
        try:
            record = client.ensure_meter(meter_id, customer=customer, rated_kw=rated_kw, region=region, voltage_kv=voltage_kv, tariff_id=tariff).record
        except LedgerError as exc:
            if fresh_key:  # a key issued for a refused registration (say, a mistyped region) is not kept for the retry
                key_file.unlink(missing_ok=True)
            fail(exc.code, exc.message)
    finally:
        net.close()
    emit({**record, "keyFile": str(key_file)})


@meters_app.command("list")
def list_command(data: Path = DataOption, org: str = typer.Option("Org1", "--org", help="Organization whose meters to list.")) -> None:
    """The organization's meters as JSON."""
    from ledger.tools.cli import emit, open_network

    net = open_network(data)
    try:
        emit({"meters": MeteringClient(net, org).query("listMeters")})
    finally:
        net.close()


@meters_app.command("prove")
def prove_command(
    meter_id: str = typer.Argument(..., help="Meter id."),
    start: str = typer.Argument(..., help="The reading's interval start, e.g. 2026-11-03T10:15:00Z."),
    data: Path = DataOption,
    org: str = typer.Option("Org1", "--org", help="Organization whose collector asks (a meter of another org needs a regulator)."),
) -> None:
    """Print an inclusion proof of one reading up to its block header (check it with check-proof)."""
    from ledger.core.errors import LedgerError
    from ledger.tools.cli import emit, fail, open_network

    net = open_network(data)
    try:
        proof = MeteringClient(net, org).reading_proof(meter_id, start)
    except LedgerError as exc:
        fail(exc.code, exc.message)
    finally:
        net.close()
    emit(proof)


@meters_app.command("check-proof")
def check_proof_command(
    proof_file: Path = typer.Argument(..., help="A proof printed by `meters prove`."),
    genesis: Path = typer.Option(..., "--genesis", help="The channel's genesis block (the trust anchors); no network is opened."),
) -> None:
    """Check a reading's proof offline: {"ok", "problems"}, exit 1 when a link does not hold."""
    import json

    from chaincode.metering.proofs import check_reading_proof
    from ledger.core.channel_config import genesis_config
    from ledger.core.errors import LedgerError
    from ledger.node.material import read_genesis
    from ledger.tools.cli import emit, fail

    try:
        config = genesis_config(read_genesis(genesis))
        proof = json.loads(proof_file.read_text())
    except (OSError, ValueError, LedgerError) as exc:
        fail("BAD_PROOF", f"cannot read the proof or the genesis block: {exc}")
    if not isinstance(proof, dict):
        fail("BAD_PROOF", f"{proof_file} is not a proof: `meters prove` prints a JSON object, this is a JSON {type(proof).__name__}")
    orderer_org = config.orderers[0].org
    problems = check_reading_proof(proof, {o.name: o.ca_public_key for o in config.orgs}, orderer_org)
    header = proof.get("header")
    emit({"ok": not problems, "problems": problems, "meterId": proof.get("meterId"), "reading": proof.get("reading"),
          "block": header.get("number") if isinstance(header, dict) else None}, 1 if problems else 0)


def settle(
    data: Path = DataOption,
    period: str = typer.Option(..., "--period", help="Month to bill, YYYY-MM in the tariff's local time."),
    as_json: bool = typer.Option(False, "--json", help="Print {period, bills, refused} as JSON."),
) -> None:
    """Settle every meter of every organization for PERIOD (each bill is written once)."""
    from ledger.core.errors import LedgerError
    from ledger.tools.cli import emit, fail, fail_usage, open_network

    if not PERIOD.fullmatch(period):
        fail_usage("BAD_PERIOD", f"--period must be YYYY-MM, got {period!r}")
    net = open_network(data)
    bills: list[dict[str, object]] = []
    refused: list[dict[str, object]] = []
    try:
        for org in net.config.peer_orgs:
            client = MeteringClient(net, org)
            with _progress(len(client.query("listMeters", gateway=client.admin)), f"{org} bills", as_json) as advance:
                for meter_id, outcome in client.settle_all(period, advance):
                    if outcome.ok:
                        bills.append({"meterId": meter_id, "total_fen": outcome.result["total_fen"], "lines": len(outcome.result["lines"])})
                    else:
                        refused.append({"meterId": meter_id, "code": outcome.code, "message": outcome.message})
    except LedgerError as exc:
        fail(exc.code, exc.message)
    finally:
        net.close()
    failed = any(r["code"] != "BILL_EXISTS" for r in refused)
    if as_json:
        emit({"period": period, "chaincode": CHAINCODE, "bills": bills, "refused": refused}, 1 if failed else 0)
    for bill in bills:
        typer.echo(f"{bill['meterId']}: {int(str(bill['total_fen'])) / 100:.2f} CNY")
    for refusal in refused:
        typer.echo(f"{refusal['meterId']}: {refusal['code']} {refusal['message']}")
    raise typer.Exit(1 if failed else 0)
