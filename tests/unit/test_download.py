"""Download faults against a threaded HTTP server on 127.0.0.1: 404, a truncated body, a stall,
a wrong checksum, a server without Range; a partial download resumes with Range; the destination
is only ever absent or complete."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import time
from pathlib import Path

import pytest

from jeg_wizard import download
from jeg_wizard.download import DownloadError

BODY = os.urandom(300_000) + b"end-of-spark"
SHA = hashlib.sha512(BODY).hexdigest()
FAST = dict(attempts=3, stall_seconds=0.5, backoff=0.05, connect_timeout=5)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log: list  # (path, Range header) of every request
    release: threading.Event
    counts: dict

    def log_message(self, *a):
        pass

    def _range_start(self) -> int | None:
        r = self.headers.get("Range")
        if r and r.startswith("bytes=") and r.endswith("-"):
            return int(r[len("bytes=") : -1])
        return None

    def _send(self, status: int, body: bytes, length: int | None = None, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _good(self, body: bytes) -> None:
        start = self._range_start()
        if start is None:
            self._send(200, body, extra={"Accept-Ranges": "bytes"})
        elif start >= len(body):
            self._send(416, b"", extra={"Content-Range": f"bytes */{len(body)}"})
        else:
            self._send(206, body[start:], extra={"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"})

    def _cut(self, body: bytes, keep: int) -> None:
        """Headers promise the whole rest, a part is sent, then the connection closes."""
        start = self._range_start() or 0
        rest = body[start:]
        status, extra = (206, {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}) if start else (200, {})
        self._send(status, rest[:keep], length=len(rest), extra=extra)
        self.close_connection = True

    def do_GET(self):  # noqa: N802
        self.log.append((self.path, self.headers.get("Range")))
        n = self.counts[self.path] = self.counts.get(self.path, 0) + 1
        if self.path == "/good.bin":
            self._good(BODY)
        elif self.path == "/flaky.bin":  # the first answer is cut half-way; later ones are whole
            self._cut(BODY, len(BODY) // 2) if n == 1 else self._good(BODY)
        elif self.path == "/truncated.bin":  # every answer is cut short: 1000 bytes each time
            self._cut(BODY, 1000)
        elif self.path == "/stall.bin":  # some bytes, then nothing until the test ends
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:5000])
            self.wfile.flush()
            self.release.wait(30)
            self.close_connection = True
        elif self.path == "/stall-once.bin":  # stalls the first time, then resumes fine
            if n == 1:
                self._send(200, BODY[:7000], length=len(BODY))
                self.release.wait(30)
                self.close_connection = True
            else:
                self._good(BODY)
        elif self.path == "/norange.bin":  # ignores Range: always the whole file with 200
            self._send(200, BODY)
        elif self.path == "/server-error.bin":
            self._send(503, b"busy")
        else:
            self._send(404, b"not here")


@pytest.fixture
def server():
    log: list = []
    release = threading.Event()
    handler = type("H", (Handler,), {"log": log, "release": release, "counts": {}})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", log
    release.set()
    srv.shutdown()
    srv.server_close()


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir()) if dest.parent.exists() else []


def test_good_download_verified(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    lines = []
    download.fetch(f"{base}/good.bin", dest, SHA, emit=lines.append, **FAST)
    assert dest.read_bytes() == BODY
    assert "sha512 verified" in lines
    assert leftovers(dest) == ["spark.tgz"]
    assert log == [("/good.bin", None)]


def test_404_is_not_retried_and_says_so(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    with pytest.raises(DownloadError, match=r"/nope\.tgz: HTTP 404 Not Found"):
        download.fetch(f"{base}/nope.tgz", dest, SHA, emit=lambda s: None, **FAST)
    assert len(log) == 1
    assert leftovers(dest) == []


def test_5xx_is_retried_then_named(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    with pytest.raises(DownloadError, match=r"HTTP 503 Service Unavailable; gave up after 3 attempts"):
        download.fetch(f"{base}/server-error.bin", dest, SHA, emit=lambda s: None, **FAST)
    assert len(log) == 3
    assert not dest.exists()


def test_truncated_body_resumes_with_range_and_completes(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    lines = []
    download.fetch(f"{base}/flaky.bin", dest, SHA, emit=lines.append, **FAST)
    assert dest.read_bytes() == BODY
    half = len(BODY) // 2
    assert log == [("/flaky.bin", None), ("/flaky.bin", f"bytes={half}-")]
    assert any("transfer ended early" in ln and "retrying" in ln for ln in lines), lines
    assert f"resuming the download at byte {half}" in lines
    assert leftovers(dest) == ["spark.tgz"]


def test_always_truncated_fails_clearly_and_keeps_only_the_part(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    with pytest.raises(DownloadError) as e:
        download.fetch(f"{base}/truncated.bin", dest, SHA, emit=lambda s: None, **FAST)
    msg = str(e.value)
    assert "transfer ended early" in msg and "gave up after 3 attempts" in msg
    assert "3000 bytes kept in" in msg and "the next run resumes from there" in msg
    # each attempt asked for the bytes after those it already had
    assert [r for _, r in log] == [None, "bytes=1000-", "bytes=2000-"]
    assert leftovers(dest) == ["spark.tgz.part"]  # never the destination itself
    assert not dest.exists()


def test_stall_is_retried_then_named(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    lines = []
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=r"transfer stalled: no data for 0.5s") as e:
        download.fetch(f"{base}/stall.bin", dest, SHA, emit=lines.append, **FAST)
    assert time.monotonic() - t0 < 15
    assert "gave up after 3 attempts" in str(e.value)
    assert sum("retrying" in ln for ln in lines) == 2
    assert not dest.exists()


def test_stall_once_then_resume(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    download.fetch(f"{base}/stall-once.bin", dest, SHA, emit=lambda s: None, **FAST)
    assert dest.read_bytes() == BODY
    assert log == [("/stall-once.bin", None), ("/stall-once.bin", "bytes=7000-")]


def test_checksum_mismatch_removes_the_file(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    with pytest.raises(DownloadError, match=r"sha512 mismatch \(expected 0000000000000000…, got"):
        download.fetch(f"{base}/good.bin", dest, "0" * 128, emit=lambda s: None, **FAST)
    assert leftovers(dest) == []


def test_partial_from_an_earlier_run_resumes_with_range(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    dest.parent.mkdir()
    (dest.parent / "spark.tgz.part").write_bytes(BODY[:123_456])  # what a killed run left
    download.fetch(f"{base}/good.bin", dest, SHA, emit=lambda s: None, **FAST)
    assert dest.read_bytes() == BODY
    assert log == [("/good.bin", "bytes=123456-")]
    assert leftovers(dest) == ["spark.tgz"]


def test_stale_partial_of_another_file_is_downloaded_again(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    dest.parent.mkdir()
    (dest.parent / "spark.tgz.part").write_bytes(b"x" * 1000)  # not a prefix of BODY
    download.fetch(f"{base}/good.bin", dest, SHA, emit=lambda s: None, **FAST)
    assert dest.read_bytes() == BODY
    assert log == [("/good.bin", "bytes=1000-"), ("/good.bin", None)]


def test_complete_partial_gets_416_and_is_used(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    dest.parent.mkdir()
    (dest.parent / "spark.tgz.part").write_bytes(BODY)  # killed between the last byte and the rename
    download.fetch(f"{base}/good.bin", dest, SHA, emit=lambda s: None, **FAST)
    assert dest.read_bytes() == BODY and log == [("/good.bin", f"bytes={len(BODY)}-")]


def test_server_without_range_support_restarts_from_zero(server, tmp_path):
    base, log = server
    dest = tmp_path / "dl" / "spark.tgz"
    dest.parent.mkdir()
    (dest.parent / "spark.tgz.part").write_bytes(BODY[:5000])
    download.fetch(f"{base}/norange.bin", dest, SHA, emit=lambda s: None, **FAST)
    assert dest.read_bytes() == BODY  # not the 5000 bytes twice


def test_connection_refused_is_retried_then_named(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    dest = tmp_path / "dl" / "spark.tgz"
    with pytest.raises(DownloadError, match=r"ConnectError.*gave up after 3 attempts"):
        download.fetch(f"http://127.0.0.1:{port}/x.tgz", dest, SHA, emit=lambda s: None, **FAST)
    assert not dest.exists()


def test_file_url_copies_and_verifies(tmp_path):
    src = tmp_path / "src.tgz"
    src.write_bytes(BODY)
    dest = tmp_path / "dl" / "spark.tgz"
    download.fetch(src.as_uri(), dest, SHA, emit=lambda s: None)
    assert dest.read_bytes() == BODY
    with pytest.raises(DownloadError, match="no such file"):
        download.fetch((tmp_path / "none.tgz").as_uri(), tmp_path / "dl" / "other.tgz", SHA, emit=lambda s: None)
