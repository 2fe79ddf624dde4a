"""Every command-line error is one `{"code", "message"}` document on stdout with a non-zero
exit, never a traceback; chaincode arguments after the function name pass through as they are."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from netkit import PYTHON, ROOT, submit, wait_in_sync

from ledger.node.layout import NetworkLayout
from ledger.node.network import Network

ENTRY = [PYTHON, "-m", "webapp.cli"]  # the installed `gridledger` script's app
PARALLEL_PROCESSES = 4


@pytest.fixture(scope="module")
def cli_net(pristine_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli-errors") / "net"
    shutil.copytree(pristine_dir, data)
    with Network.open(data) as net:
        submit(net, net.client_identity("Org1", "dora"), "userRegister", "Dora", "D")
        wait_in_sync(net)
    return data


def run(*args: str | bytes, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING"}
    return subprocess.run([*ENTRY, *args], capture_output=True, env=env, cwd=ROOT, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bad_argument_cases(data: str, empty: str) -> list[tuple[str, tuple[str | bytes, ...], str, int]]:
    """(case, arguments, expected code, expected exit); the first four open the network."""
    return [
        ("as-unknown-org", ("invoke", "--data", data, "--as", "NoOrg/eve", "userRegister", "Eve", "E"), "UNKNOWN_USER", 1),
        ("as-empty-name", ("invoke", "--data", data, "--as", "Org1/", "userRegister", "Eve", "E"), "BAD_ARGUMENT", 2),
        ("as-path-name", ("query", "--data", data, "--as", "Org1/..", "queryUser", "D"), "BAD_ARGUMENT", 2),
        ("chaincode-refusal-of-minus-5", ("invoke", "--data", data, "--as", "Org1/dora", "userTopup", "D", "-5"), "INVALID_AMOUNT", 1),
        ("non-utf8-user", ("invoke", "--data", data, "--as", b"Org1/\xffeve", "userRegister", "Eve", "E"), "BAD_ARGUMENT", 2),
        ("non-utf8-chaincode-arg", ("invoke", "--data", data, "--as", "Org1/dora", "userTopup", b"D\xfe", "5"), "BAD_ARGUMENT", 2),
        ("non-utf8-option-value", ("status", "--data", b"/tmp/\xc3\x28"), "BAD_ARGUMENT", 2),
        ("unknown-option", ("invoke", "--data", data, "--bogus", "userTopup", "D", "5"), "BAD_ARGUMENT", 2),
        ("unknown-command", ("explode",), "BAD_ARGUMENT", 2),
        ("bench-rates-abc", ("bench", "--data", empty, "--rates", "abc"), "BAD_ARGUMENT", 2),
        ("bench-rates-nan", ("bench", "--data", empty, "--rates", "300,nan"), "BAD_ARGUMENT", 2),
        ("bench-rates-negative", ("bench", "--data", empty, "--rates", "-1"), "BAD_ARGUMENT", 2),
        ("bench-senders-0", ("bench", "--data", empty, "--senders", "0"), "BAD_ARGUMENT", 2),
        ("bench-tx-negative", ("bench", "--data", empty, "--tx", "-5"), "BAD_ARGUMENT", 2),
        ("bench-tx-not-a-number", ("bench", "--data", empty, "--tx", "many"), "BAD_ARGUMENT", 2),
        ("status-no-network", ("status", "--data", empty), "NO_NETWORK", 1),
        ("init-weak-admin-password", ("init", "--data", empty, "--admin-password", "pw"), "WEAK_PASSWORD", 1),
        ("verify-no-network", ("verify", "--data", empty), "NO_NETWORK", 1),
        # Before, both were taken and written into node.json: ports 70000 and up, or negative
        ("init-base-port-above-65435", ("init", "--data", empty, "--networked", "--base-port", "70000"), "BAD_ARGUMENT", 2),
        ("node-configure-base-port-negative", ("node", "configure", "--data", empty, "--base-port", "-4"), "BAD_ARGUMENT", 2),
        # Before, the embedded `up` hung with 70000 (uvicorn's OverflowError inside its loop) and
        # `up --networked` was INTERNAL_ERROR; `node run --port` took it too
        ("up-port-above-65535", ("up", "--data", empty, "--port", "70000"), "BAD_ARGUMENT", 2),
        ("up-networked-port-negative", ("up", "--data", empty, "--networked", "--port", "-1"), "BAD_ARGUMENT", 2),
        ("up-host-not-resolvable", ("up", "--data", empty, "--host", "no-such-host.invalid", "--port", "0"), "BAD_ARGUMENT", 2),
        ("node-run-port-above-65535", ("node", "run", "--home", empty, "--port", "65536"), "BAD_ARGUMENT", 2),
    ]


def check_case(case: str, args: tuple[str | bytes, ...], code: str, exit_code: int) -> str:
    done = run(*args)
    out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    assert "Traceback" not in out + err, (case, out, err)
    try:
        document = json.loads(out)
    except ValueError:
        raise AssertionError(f"{case}: stdout is not one JSON document: {out!r} {err[-1500:]!r}") from None
    assert set(document) >= {"code", "message"} and document["message"], (case, document)
    assert (document["code"], done.returncode) == (code, exit_code), (case, document, done.returncode)
    return case


def test_every_bad_command_line_is_one_error_document_with_a_code_and_no_traceback(cli_net: Path, tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    cases = bad_argument_cases(str(cli_net), str(empty))
    held = [check_case(*case) for case in cases[:4]]  # one process at a time holds the network
    with ThreadPoolExecutor(PARALLEL_PROCESSES) as pool:  # the rest never open it
        held += list(pool.map(lambda case: check_case(*case), cases[4:]))
    assert held == [c[0] for c in cases]
    assert not empty.exists()  # refused before anything was created


def test_init_of_a_directory_that_holds_a_network_says_why_once(cli_net: Path) -> None:
    done = run("init", "--data", str(cli_net))
    document = json.loads(done.stdout)
    assert (done.returncode, document["code"]) == (1, "INIT_FAILED"), document
    assert document["message"] == f"{cli_net} already holds a network (genesis.block exists)", document  # was "CONFIG_INVALID: ..."


def test_arguments_after_the_function_name_go_to_the_chaincode_as_they_are(cli_net: Path) -> None:
    done = run("invoke", "--data", str(cli_net), "--as", "Org1/dora", "userTopup", "D", "-5")
    document = json.loads(done.stdout)
    assert document["code"] == "INVALID_AMOUNT" and "'-5'" in document["message"], document
    done = run("invoke", "--data", str(cli_net), "--as", "Org1/dora", "userTopup", "D", "7")
    assert json.loads(done.stdout)["result"]["Token"] == 7
    done = run("query", "--data", str(cli_net), "queryUser", "--as")  # an option name, after the function: an argument
    document = json.loads(done.stdout)
    assert done.returncode == 1 and document["code"] != "BAD_ARGUMENT" and "--as" in document["message"], document


def test_second_up_on_a_busy_directory_is_network_busy_without_a_traceback(cli_net: Path) -> None:
    with Network.open(cli_net):
        done = run("up", "--data", str(cli_net), "--port", str(free_port()), "--one-process", timeout=60)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert "Traceback" not in out + err, (out, err)
    assert done.returncode == 1
    assert json.loads(out)["code"] == "NETWORK_BUSY"


def test_up_on_a_taken_console_port_is_port_in_use_before_any_peer_starts(cli_net: Path) -> None:
    """Before, the embedded `up` opened the network (four peer processes), printed "GridLedger
    console on http://127.0.0.1:P/", then uvicorn failed to bind: its own ERROR line on stderr,
    exit 3, no `{code, message}` on stdout."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("up", "--data", str(cli_net), "--port", str(port))
    out, err = done.stdout.decode(), done.stderr.decode()
    assert "Traceback" not in out + err and "console on" not in out, (out, err[-1500:])
    document = json.loads(out)
    assert (done.returncode, document["code"]) == (1, "PORT_IN_USE") and f"127.0.0.1:{port}" in document["message"], document
    assert not list(NetworkLayout(cli_net).run_dir.glob("*.pid")), "no peer process was started"


def test_a_file_where_a_directory_belongs_is_a_refusal_naming_it_not_an_internal_error(tmp_path: Path) -> None:
    """Before, each of these was INTERNAL_ERROR ("FileExistsError: [Errno 17] File exists",
    "NotADirectoryError: ...")."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    cases = [
        (("init", "--data", str(a_file)), "INIT_FAILED"),
        (("init", "--data", str(a_file / "sub"), "--networked"), "INIT_FAILED"),
        (("up", "--data", str(a_file), "--networked", "--port", "0"), "INIT_FAILED"),
        (("org", "create", "--org", "Org9", "--out", str(a_file)), "CONFIG_INVALID"),
        (("node", "run", "--home", str(a_file)), "CONFIG_INVALID"),
    ]
    for args, code in cases:
        done = run(*args)
        document = json.loads(done.stdout)
        assert (done.returncode, document["code"]) == (1, code) and "Traceback" not in done.stderr.decode(), (args, document)
        assert str(a_file) in document["message"], (args, document)
    assert a_file.read_text() == "not a directory\n" and sorted(tmp_path.iterdir()) == [a_file]  # nothing written
