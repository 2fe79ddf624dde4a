"""The console runs unchanged on the networked consortium: a console node process (`node
run`, its own NATS credentials) over real NATS, orderer and peer nodes serves the
marketplace story through its JSON API — sign up, top up, publish, buy, download — every
write approved by an administrator and committed on every peer."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
from nodekit import ADMIN_PASSWORD, CLI, NodeProcesses, free_base_port, http_ok, init_networked, node_homes, wait_for

from ledger.node.layout import NetworkLayout

USER_PASSWORD = "user-pass-123"
REQUEST_S = 60.0


class Console:
    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=REQUEST_S)

    def login(self, username: str, password: str = USER_PASSWORD) -> dict[str, str]:
        response = self.http.post("/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def approve(self, request_id: str) -> dict[str, Any]:
        response = self.http.post(f"/reviews/{request_id}/approve", headers=self.login("admin", ADMIN_PASSWORD))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def submitted(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.http.post(path, json=body, headers=headers or {})
        assert response.status_code == 202, response.text
        outcome = self.approve(response.json()["requestId"])
        assert outcome["status"] == "committed", outcome
        return outcome

    def register(self) -> tuple[str, dict[str, str]]:
        user_id = f"u{uuid.uuid4().hex[:8]}"
        self.submitted("/users/register", {"userName": f"Name {user_id}", "userId": user_id, "password": USER_PASSWORD})
        return user_id, self.login(user_id)


def test_the_console_story_on_the_networked_consortium(tmp_path: Path, nodes: NodeProcesses) -> None:
    data = init_networked(tmp_path)
    nodes.start_nats(data)
    for kind in ("orderer", "peer"):
        for home in node_homes(data, kind):
            nodes.start(home)
    port = free_base_port(1)
    home = NetworkLayout(data).node_dir("console.Org1")
    env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_SIGNUPS_PER_HOUR": "1000"}
    with open(home / "test-run.log", "ab") as log:
        nodes.procs[home] = subprocess.Popen([*CLI, "node", "run", "--home", str(home), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_ok(base + "/healthz"), what="the console healthy (peers and orderers heard)")
    console = Console(base)

    publisher, pub_h = console.register()
    buyer, buy_h = console.register()
    content = f"time,load_kw\n2024-01-01T00:00,12.5,{publisher}\n".encode()
    upload = console.http.post("/datasets", files={"file": ("load.csv", content, "text/csv")}, headers=pub_h)
    assert upload.status_code == 201, upload.text

    metadata = json.dumps({**upload.json(), "description": "load curve", "licence": "research use"})
    asset_id = f"a{uuid.uuid4().hex[:8]}"
    console.submitted("/assets/enroll", {"assetName": "Load", "assetId": asset_id, "metadata": metadata, "ownerId": publisher, "value": 30}, pub_h)
    console.submitted("/users/topup", {"userId": buyer, "Token": 100}, buy_h)
    bought = console.submitted("/assets/exchange", {"assetId": asset_id, "originOwnerId": publisher, "currentOwnerId": buyer}, buy_h)
    assert bought["block"] is not None

    assert console.http.get("/users/get", params={"userId": buyer}, headers=buy_h).json()["Token"] == 70
    assert console.http.get("/users/get", params={"userId": publisher}, headers=pub_h).json()["Token"] == 30
    download = console.http.get("/assets/download", params={"assetId": asset_id}, headers=buy_h)
    assert download.status_code == 200 and hashlib.sha256(download.content).digest() == hashlib.sha256(content).digest()
    health = console.http.get("/healthz").json()
    assert health["status"] == "ok", health


CONSOLE_STOP_S = 15.0


def test_a_sigtermed_console_node_exits_0_after_its_clean_up(tmp_path: Path, nodes: NodeProcesses) -> None:
    """uvicorn re-raised SIGTERM after its graceful shutdown with Python's default handler, so
    the console node died before its clean-up: exit -15, its node.pid left behind, the NATS
    link never closed."""
    import signal

    from ledger.node.layout import NodeLayout

    data = init_networked(tmp_path)
    nodes.start_nats(data)
    port = free_base_port(1)
    home = NetworkLayout(data).node_dir("console.Org1")
    with open(home / "test-run.log", "ab") as log:
        proc = nodes.procs[home] = subprocess.Popen([*CLI, "node", "run", "--home", str(home), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/login"), what="the console serving")
    assert NodeLayout(home).pid_file.exists()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(CONSOLE_STOP_S) == 0, (home / "test-run.log").read_text()[-2000:]
    assert not NodeLayout(home).pid_file.exists()
