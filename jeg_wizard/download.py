"""Downloads that resume, retry with backoff, verify sha512 and never leave a bad file in place."""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import httpx


class DownloadError(Exception):
    pass


def fetch_text(url: str, timeout: float = 30) -> str | None:
    """A small text resource (a .sha512 file); None when it does not exist."""
    if url.startswith("file://"):
        p = Path(urlparse(url).path)
        return p.read_text() if p.exists() else None
    try:
        r = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError:
        return None
    return r.text if r.status_code == 200 else None


def parse_sha512(text: str) -> str:
    """Apache publishes either 'HEX  name' or 'name: AB CD ...' (gpg --print-md); take the hex."""
    body = text.split(":", 1)[1] if ":" in text.split("\n", 1)[0] else text.split()[0]
    hexdigits = "".join(c for c in body if c in "0123456789abcdefABCDEF")
    return hexdigits.lower()[:128]


def _sha512(path: Path) -> str:
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, dest: Path, sha512: str = "", *, emit: Callable[[str], None] = print,
          attempts: int = 4, stall_seconds: float = 60, backoff: float = 2.0) -> None:
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = dest.with_name(dest.name + ".part")
    if url.startswith("file://"):
        src = Path(urlparse(url).path)
        if not src.exists():
            raise DownloadError(f"{url}: no such file")
        shutil.copyfile(src, part)
    else:
        last: Exception | None = None
        for attempt in range(1, attempts + 1):
            try:
                _http(url, part, emit, stall_seconds)
                last = None
                break
            except DownloadError as e:
                if "HTTP 4" in str(e):  # 404/403: retrying will not help
                    raise
                last = e
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last = DownloadError(f"{url}: {type(e).__name__}: {e or 'stalled'}")
            emit(f"download attempt {attempt} failed: {last}; retrying")
            time.sleep(backoff * attempt)
        if last:
            raise last
    if sha512:
        got = _sha512(part)
        if got != sha512:
            part.unlink()
            raise DownloadError(f"{url}: sha512 mismatch (expected {sha512[:16]}…, got {got[:16]}…); the file was removed")
        emit("sha512 verified")
    os.replace(part, dest)


def _http(url: str, part: Path, emit, stall_seconds: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    timeout = httpx.Timeout(30, read=stall_seconds)
    with httpx.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True) as r:
        if r.status_code == 416:  # already complete
            return
        if r.status_code >= 400:
            raise DownloadError(f"{url}: HTTP {r.status_code}")
        mode = "ab" if r.status_code == 206 else "wb"
        total = int(r.headers.get("content-length", 0)) + (have if mode == "ab" else 0)
        got = have if mode == "ab" else 0
        last_report = 0.0
        with open(part, mode) as f:
            for chunk in r.iter_bytes(1 << 20):
                f.write(chunk)
                got += len(chunk)
                if time.monotonic() - last_report > 2:
                    last_report = time.monotonic()
                    emit(f"downloaded {got >> 20} MiB" + (f" of {total >> 20} MiB" if total else ""))
        if total and got < total:
            raise DownloadError(f"{url}: transfer ended early ({got} of {total} bytes)")
