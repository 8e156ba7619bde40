"""The page in a real browser: `zeroplan serve pretrained:tictactoe` in its own
process, driven by Playwright in headless Chromium (Debian's `chromium`;
Playwright's own browser download cannot be reached from these machines).
CI installs both; on a machine with neither the test is skipped with the reason."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("starlette", reason="zeroplan[serve] is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium on PATH (Debian: apt-get install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "zeroplan.cli", "serve", "pretrained:tictactoe", "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/api/info", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"the server did not start: {proc.stdout.read().decode()[-2000:]}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(server)
        yield page
        browser.close()


def _cells(page):
    return page.locator("#board-svg g.cell")


def _empty(page) -> list[int]:
    cells = _cells(page)
    return [int(cells.nth(i).get_attribute("data-action")) for i in range(cells.count())
            if cells.nth(i).locator(".stone").count() == 0]


def test_a_whole_game_by_clicking(page):
    page.wait_for_selector("#board-svg")
    assert _cells(page).count() == 9
    assert page.locator("#status").inner_text() == "your move"
    _cells(page).nth(0).click()  # X in the corner
    page.wait_for_function("document.querySelector('#status').textContent.includes('the agent played')")
    assert page.locator("#board-svg .stone").count() == 2  # our X and the agent's O
    # The agent's search for its move: one row per legal reply, visit counts summing to its simulations.
    rows = page.locator("#search-table tbody tr")
    assert rows.count() == 8
    visits = [int(rows.nth(i).locator("td").nth(1).inner_text()) for i in range(rows.count())]
    assert sum(visits) == 50 and max(visits) > 0
    chosen = int(page.locator("#search-table tr.chosen td").first.inner_text())
    assert page.locator("#status").inner_text().startswith(f"the agent played {chosen}")
    assert page.locator("#pv").inner_text().startswith(f"principal variation: {chosen}")

    # An illegal click (an occupied cell) is refused on the page and changes nothing.
    occupied = [a for a in range(9) if a not in _empty(page)]
    before = page.locator("#board-svg .stone").count()
    _cells(page).nth(occupied[0]).click()
    page.wait_for_function("document.querySelector('#error').textContent.length > 0")
    assert "not legal" in page.locator("#error").inner_text()
    assert page.locator("#board-svg .stone").count() == before

    while "game over" not in page.locator("#status").inner_text():
        stones = page.locator("#board-svg .stone").count()
        _cells(page).nth(_empty(page)[0]).click()
        page.wait_for_function(f"document.querySelectorAll('#board-svg .stone').length > {stones}")
        page.wait_for_function("!document.querySelector('#status').textContent.includes('thinking')")
    result = page.locator("#status").inner_text()
    assert result in ("game over: a draw", "game over: the agent wins")  # the shipped agent plays perfectly
    assert page.locator("#value-line").count() == 1


def test_the_tree_button_shows_the_search_tree(page):
    page.locator("#new-second").click()  # the agent opens
    page.wait_for_function("document.querySelectorAll('#board-svg .stone').length == 1")
    page.locator("#show-tree").click()
    page.wait_for_selector("#tree svg")
    assert "N=" in page.locator("#tree").inner_text()
