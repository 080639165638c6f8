"""Getting the text: the real download path against a local HTTP server (no mocks), the cache,
local files, and user uploads."""

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tinygpt import corpus
from tinygpt.corpus import DatasetError, download, load_shakespeare, text_from_bytes

BODY = ("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 200).encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        route(self)

    def log_message(self, *args):
        pass


def serve(handler, body=BODY, declared=None):
    handler.send_response(200)
    handler.send_header("Content-Length", str(declared or len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.routes = {}
    httpd.hits = 0
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(httpd, path):
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


def test_download_success_with_progress(server, tmp_path):
    server.routes["/input.txt"] = serve
    seen = []
    dest = download(
        url(server, "/input.txt"),
        tmp_path / "t.txt",
        hashlib.sha256(BODY).hexdigest(),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert dest.read_bytes() == BODY
    assert seen[-1] == (len(BODY), len(BODY))
    assert list(tmp_path.iterdir()) == [dest]


def test_checksum_mismatch_never_lands(server, tmp_path):
    server.routes["/input.txt"] = serve
    with pytest.raises(DatasetError, match="checksum"):
        download(url(server, "/input.txt"), tmp_path / "t.txt", "0" * 64, retries=1)
    assert list(tmp_path.iterdir()) == []


def test_http_404_is_not_retried(server, tmp_path):
    with pytest.raises(DatasetError, match="HTTP 404.*TINYGPT_DATA"):
        download(url(server, "/missing.txt"), tmp_path / "t.txt", retries=3)
    assert list(tmp_path.iterdir()) == []


def test_timeout(server, tmp_path):
    def slow(handler):
        time.sleep(2)
        serve(handler)

    server.routes["/slow.txt"] = slow
    start = time.monotonic()
    with pytest.raises(DatasetError, match="timed out"):
        download(url(server, "/slow.txt"), tmp_path / "t.txt", timeout=0.3, retries=2)
    assert time.monotonic() - start < 5
    assert list(tmp_path.iterdir()) == []


def test_cut_off_download_is_retried_and_never_lands(server, tmp_path):
    attempts = []

    def flaky(handler):
        attempts.append(1)
        if len(attempts) == 1:  # promise more than is sent, then hang up
            serve(handler, BODY[:100], declared=len(BODY))
            handler.close_connection = True
        else:
            serve(handler)

    server.routes["/flaky.txt"] = flaky
    dest = download(
        url(server, "/flaky.txt"), tmp_path / "t.txt", hashlib.sha256(BODY).hexdigest(), retries=3
    )
    assert len(attempts) == 2 and dest.read_bytes() == BODY


def test_offline_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="Could not get Tiny Shakespeare.*TINYGPT_DATA"):
        download("http://127.0.0.1:9/input.txt", tmp_path / "t.txt", retries=2, timeout=1)


def test_load_shakespeare_downloads_once_into_the_cache(
    server, tmp_path, monkeypatch, text, is_real_shakespeare
):
    if not is_real_shakespeare:
        pytest.skip("needs ../shared/data/tinyshakespeare.txt to serve a file with the real checksum")
    payload = text.encode("utf-8")

    def real(handler):
        server.hits += 1
        serve(handler, payload)

    server.routes["/input.txt"] = real
    monkeypatch.delenv("TINYGPT_DATA")
    monkeypatch.setenv("TINYGPT_CACHE", str(tmp_path))
    assert not corpus.dataset_ready()
    got = load_shakespeare(url=url(server, "/input.txt"))
    assert got == text and len(got) == corpus.SHAKESPEARE_CHARS
    assert corpus.dataset_ready() and corpus.cached_path().is_file()
    assert load_shakespeare(url=url(server, "/input.txt")) == text and server.hits == 1
    corpus.cached_path().write_bytes(payload[:1000])  # damaged behind our back: fetched again
    assert load_shakespeare(url=url(server, "/input.txt")) == text and server.hits == 2


def test_local_file_by_argument_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "mine.txt"
    path.write_text("To be, or not to be", encoding="utf-8")
    assert load_shakespeare(path) == "To be, or not to be"
    monkeypatch.setenv("TINYGPT_DATA", str(path))
    assert load_shakespeare() == "To be, or not to be"
    monkeypatch.setenv("TINYGPT_DATA", str(tmp_path / "missing.txt"))
    with pytest.raises(DatasetError, match="cannot read"):
        load_shakespeare()


def test_user_text():
    assert text_from_bytes("héllo\n".encode()) == "héllo\n"
    assert text_from_bytes("\ufeffabc".encode()) == "abc"
    with pytest.raises(DatasetError, match="not UTF-8"):
        text_from_bytes(b"\xff\xfe\x00a")
    with pytest.raises(DatasetError, match="empty"):
        text_from_bytes(b"  \n ")
    with pytest.raises(DatasetError, match="limit"):
        text_from_bytes(b"a" * 101, max_bytes=100)
    with pytest.raises(DatasetError, match="binary"):
        text_from_bytes(b"abc\x00def")
