"""The page at `/` in a real headless browser (Debian's chromium): it finds neighbours, marks
an OOV word, and predicts a language. Skipped, saying why, where chromium is not installed
(`make test` installs it with apt-get when run as root)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import urllib.parse

import pytest

from vecsmith import store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium; "
                             "`make test` does it when run as root)")


def _chromium(*args: str) -> subprocess.CompletedProcess:
    # --virtual-time-budget lets the page's fetches finish before the DOM is dumped
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", "--virtual-time-budget=15000", *args],
                          capture_output=True, timeout=120, check=True)


def _dom(server, query: str, model: str) -> str:
    url = f"{server.url}/?{urllib.parse.urlencode({'q': query, 'model': model})}"
    return _chromium("--dump-dom", url).stdout.decode()


def test_page_finds_neighbours_and_marks_oov(page_server, models_dir):
    lee32 = store.open(models_dir / "lee32.store")
    dom = _dom(page_server, "zzqxkingly", "lee32")
    assert 'data-done="1"' in dom
    assert 'id="oov"' in dom  # the unknown word is marked
    shown = [html.unescape(w) for w in re.findall(r'<tr class="row"><td>(.*?)</td>', dom)]
    assert shown == [w for w, _ in lee32.most_similar("zzqxkingly", k=10, device="cpu")]
    dom = _dom(page_server, "government", "lee32")
    assert 'id="oov"' not in dom and "in vocabulary" in dom


def test_page_predicts_a_language(page_server):
    dom = _dom(page_server, "Das ist ein kleiner Test", "lee32")
    assert 'data-done="1"' in dom and "Predicted by <b>lid</b>" in dom
    labels = re.findall(r'<tr class="row"><td>(.*?)</td>', dom)
    assert labels[0] == "de"


def test_page_screenshot(page_server, tmp_path):
    png = tmp_path / "page.png"
    url = f"{page_server.url}/?q=zzqxkingly&model=lee32"
    _chromium(f"--screenshot={png}", "--window-size=900,700", url)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_docs_page_renders_offline(page_server):
    """/docs draws Swagger UI from assets the server itself serves (no CDN: nothing outside
    loopback is reachable here, so a CDN page would stay blank)."""
    status, _, html_text = page_server.get("/docs")
    assert status == 200 and b"cdn." not in html_text and b"/static-docs/" in html_text
    dom = _chromium("--dump-dom", f"{page_server.url}/docs").stdout.decode()
    paths = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert {"/health", "/models", "/v1/embeddings", "/vectors", "/similar", "/analogy",
            "/predict"} <= paths, paths
