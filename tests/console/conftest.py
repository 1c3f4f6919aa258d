"""The console's tests: a real `homeport serve` (metric period 1 s), and headless Chromium driven by Playwright.

Chromium is Debian's (`/usr/bin/chromium`, which .ci/run installs); Playwright drives it through its own
protocol, with no browser of its own downloaded."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, boto_client

CHROMIUM_FLAGS = [  # as root, in a sandbox of its own, on a machine with no way out
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return os.environ.get("HOMEPORT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "HOMEPORT_LOG_LEVEL": "warning",
        "HOMEPORT_METRIC_PERIOD_SECONDS": "1",
        "HOMEPORT_CAPTURE_FLUSH_S": "0.2",
        **KEYS,
    }
    with ServerProcess(tmp_path_factory.mktemp("console-data"), env=env) as proc:
        yield proc


@pytest.fixture(scope="module")  # not longer: Playwright's sync API holds a running event loop on this thread
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: apt-get install chromium (.ci/run does)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, console_server: ServerProcess) -> Iterator[Any]:
    """A fresh browser context (no cookies), its default timeout short enough to fail fast."""
    context = browser.new_context(base_url=console_server.url)
    context.set_default_timeout(20_000)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(
    page: Any, key_id: str = KEYS["HOMEPORT_ACCESS_KEY_ID"], secret: str = KEYS["HOMEPORT_SECRET_ACCESS_KEY"]
) -> None:
    page.fill("input[name=access_key_id]", key_id)
    page.fill("input[name=secret_access_key]", secret)
    page.click("button[type=submit]")


@pytest.fixture
def signed_in(page: Any) -> Any:
    page.goto("/console/login")
    sign_in(page)
    page.wait_for_url("**/console/endpoints")
    return page


@pytest.fixture(scope="module")
def csm(console_server: ServerProcess) -> Any:
    return boto_client("sagemaker", console_server.url)


def screenshot(page: Any, name: str) -> None:
    """Where HOMEPORT_SCREENSHOTS points (docs/console/ when the docs are made), a picture of the page."""
    folder = os.environ.get("HOMEPORT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
