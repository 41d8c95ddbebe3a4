"""The portal in a real browser: Debian's Chromium driven by Playwright, the app under uvicorn.

Runs whenever /usr/bin/chromium exists. Under P4P_REQUIRE_SERVICES=1 (CI) a missing Chromium is a
failure; otherwise the tests are skipped with the reason. Playwright's own browser downloads are
never used.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from conftest import USERS, make_portal, patients_of

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# A number standing alone in the page's text: not part of an identifier (CMS122), a date (2025-01-01),
# a decimal (0.7) or a percentage (58.1%).
STANDALONE_NUMBER = re.compile(r"(?<![\w.,%-])\d[\d,]*(?:\.\d+)?(?![\w%]|[.,]\d)")


def require_chromium(path: Path = CHROMIUM) -> None:
    """Skip when Chromium is missing, or fail when the environment says services are required (CI)."""
    if path.exists():
        return
    reason = f"Chromium not found at {path}; install it with: apt-get update && apt-get install -y chromium"
    if os.environ.get("P4P_REQUIRE_SERVICES") == "1":
        pytest.fail(reason + " (required: P4P_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def test_a_missing_chromium_fails_when_services_are_required_and_skips_otherwise(monkeypatch, tmp_path):
    monkeypatch.setenv("P4P_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception):
        require_chromium(tmp_path / "chromium")
    monkeypatch.delenv("P4P_REQUIRE_SERVICES")
    with pytest.raises(pytest.skip.Exception):
        require_chromium(tmp_path / "chromium")


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, review_template):
    """The test portal served by uvicorn on a free localhost port in a background thread."""
    app, engine, run_id = make_portal(tmp_path_factory.mktemp("browser"), review_template)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", run_id
    running.should_exit = True
    thread.join(10)


def signed_in_page(browser, base: str, username: str):
    page = browser.new_context().new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", USERS[username][0])
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()
    return page


def test_a_clinician_sees_only_their_patients_and_disputes_and_the_admin_finalizes_after_resolving(browser, server):
    base, run_id = server
    clinician = signed_in_page(browser, base, "dr.a")
    assert clinician.url == f"{base}/clinicians/CA1"
    clinician.click("a.gaps[href$='/gaps/CMS165']")
    listed = clinician.locator("a.patient").all_inner_texts()
    assert listed and set(listed) <= patients_of("CA1")
    clinician.click(f"a.patient:text-is('{listed[0]}')")
    assert clinician.inner_text("#patient-id") == listed[0]
    clinician.select_option("#dispute-form select[name=measure_id]", "CMS165")
    clinician.select_option("#dispute-form select[name=element]", "numerator")
    clinician.fill("#dispute-form textarea[name=reason]", "blood pressure was recorded at the pharmacy")
    clinician.click("#dispute-form button[type=submit]")
    clinician.goto(f"{base}/home")
    assert "blood pressure was recorded at the pharmacy" in clinician.inner_text("#disputes")
    assert "open" in clinician.inner_text("#disputes")

    admin = signed_in_page(browser, base, "admin")
    assert admin.url == f"{base}/admin"
    admin.click("#close-review")
    assert admin.inner_text(f"#runs tr[data-run='{run_id}'] .state") == "review_closed"
    admin.click("#finalize")
    assert "unresolved dispute" in admin.inner_text("pre.message")
    admin.goto(f"{base}/admin")
    admin.select_option("form.resolve select[name=resolution]", "rejected")
    admin.fill("form.resolve input[name=note]", "pharmacy readings are not in scope")
    admin.click("form.resolve button[type=submit]")
    admin.click("#finalize")
    assert admin.url == f"{base}/admin"
    assert admin.inner_text(f"#runs tr[data-run='{run_id}'] .state") == "finalized"


def test_the_public_page_shows_no_small_cell_and_draws_its_charts(browser, server):
    base, _ = server
    page = browser.new_context().new_page()
    page.goto(f"{base}/")
    page.wait_for_selector(".chart[data-rendered='true']", timeout=30_000)
    text = page.inner_text("body")
    integers = [int(n.replace(",", "")) for n in STANDALONE_NUMBER.findall(text) if "." not in n]
    assert 186 in integers and 320 in integers  # CMS165's all-practice total is on the page
    assert not [n for n in integers if 1 <= n <= 10], text
    for cell in page.locator("td.count").all_inner_texts():
        assert cell == "—" or int(cell.replace(",", "")) == 0 or int(cell.replace(",", "")) > 10
    assert "ORG_C" not in text  # below the minimum denominator
    assert "Why it matters" in text and "Controlling High Blood Pressure" in text
