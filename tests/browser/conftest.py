"""A live console (uvicorn in a thread, free loopback port) on a real network, and Debian's
Chromium driven by Playwright. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GRIDLEDGER_FAST_KDF", "1")

CHROMIUM = os.environ.get("GRIDLEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]
ADMIN_PASSWORD = "admin-pass-123"
_LIVE: dict[str, Any] = {}  # what live_server started, for live_network
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from ledger.node.init import init_network
    from ledger.node.network import Network
    from ledger.node.spec import default_config_path
    from webapp.app import create_app
    from webapp.settings import Settings

    data_dir = tmp_path_factory.mktemp("browser-net")
    init_network(default_config_path(), data_dir, admin_password=ADMIN_PASSWORD)
    network = Network.open(data_dir)
    _LIVE["network"] = network
    app = create_app(data_dir, network=network, settings=Settings(fast_kdf=True, signups_per_hour=1_000_000))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    network.close()


@pytest.fixture(scope="session")
def live_network(live_server: str) -> Any:
    """The network the live console runs on (tests that seed data the console cannot write)."""
    return _LIVE["network"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian's chromium is not installed: `apt-get install chromium` (.ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def shoot() -> Any:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return save


class Person:
    """One browser context (its own cookies) acting as one person on the live console."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.context = browser.new_context(base_url=base_url, accept_downloads=True)
        self.context.set_default_timeout(20_000)
        self.page = self.context.new_page()

    def sign_up(self, username: str, name: str, password: str = "user-pass-123") -> str:
        page = self.page
        page.goto("/signup")
        page.fill("input[name=username]", username)
        page.fill("input[name=display_name]", name)
        page.fill("input[name=password]", password)
        page.fill("input[name=password2]", password)
        page.click("button[type=submit]")
        page.wait_for_url("**/my/requests/*")
        return self.request_id()

    def log_in(self, username: str, password: str) -> None:
        page = self.page
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("main button[type=submit]")
        page.wait_for_load_state()

    def request_id(self) -> str:
        return self.page.url.rstrip("/").split("/")[-1]

    def status(self, request_id: str) -> str:
        self.page.goto(f"/my/requests/{request_id}")
        return self.page.locator(".status").first.inner_text().strip()


@pytest.fixture(scope="session")
def admin(browser: Any, live_server: str) -> Person:
    person = Person(browser, live_server)
    person.log_in("admin", ADMIN_PASSWORD)
    return person


@pytest.fixture(scope="session")
def approve() -> Any:
    return approve_in_browser


def approve_in_browser(admin: Person, request_id: str) -> str:
    page = admin.page
    page.goto(f"/admin/reviews/{request_id}")
    page.click("#approve")
    page.wait_for_url(f"**/admin/reviews/{request_id}?decided=1")
    return page.locator(".status").first.inner_text().strip()


@pytest.fixture()
def person(browser: Any, live_server: str) -> Any:
    made: list[Person] = []

    def make() -> Person:
        made.append(Person(browser, live_server))
        return made[-1]

    yield make
    for p in made:
        p.context.close()
