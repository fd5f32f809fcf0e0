"""Downloads that resume, retry with backoff, verify sha512 and never leave a bad file in place."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
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


def sha512_of(path: Path) -> str:
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Permanent(DownloadError):
    """An answer retrying cannot change (404, 403, ...)."""


class _Restart(DownloadError):
    """The partial file cannot be continued (the server sent another range): start again."""


def fetch(
    url: str,
    dest: Path,
    sha512: str = "",
    *,
    emit: Callable[[str], None] = print,
    attempts: int = 4,
    stall_seconds: float = 60,
    backoff: float = 2.0,
    connect_timeout: float = 30,
) -> None:
    """GET url to dest via dest.part: a partial download resumes with Range (on the next attempt
    or the next run), errors are retried with backoff (not 4xx), sha512 is checked before the
    rename, so dest is only ever absent or complete and verified."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = dest.with_name(dest.name + ".part")
    if url.startswith("file://"):
        src = Path(urlparse(url).path)
        if not src.exists():
            raise DownloadError(f"{url}: no such file")
        shutil.copyfile(src, part)
    else:
        fresh_retry = True  # one more go from byte 0 when a resumed file fails its checksum
        attempt = 0
        while True:
            attempt += 1
            resumed = part.exists() and part.stat().st_size > 0
            try:
                _http(url, part, emit, stall_seconds, connect_timeout)
                if sha512 and resumed and fresh_retry and sha512_of(part) != sha512:
                    fresh_retry = False
                    part.unlink()
                    emit(
                        f"download: the resumed file fails its sha512 (an older partial?); downloading {url} again from the start"
                    )
                    attempt -= 1
                    continue
                break
            except _Permanent:
                raise
            except _Restart as e:
                part.unlink(missing_ok=True)
                last: DownloadError = e
            except DownloadError as e:
                last = e
            except httpx.TimeoutException as e:  # before the first byte: connecting, or no answer (stalled)
                last = DownloadError(f"{url}: no answer within the timeout ({type(e).__name__}: {e or 'timed out'})")
            except httpx.TransportError as e:
                last = DownloadError(f"{url}: {type(e).__name__}: {e}")
            if attempt >= attempts:
                kept = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"{last}; gave up after {attempts} attempts"
                    + (f" ({kept} bytes kept in {part}: the next run resumes from there)" if kept else "")
                )
            wait = backoff * attempt
            emit(f"download attempt {attempt} of {attempts} failed: {last}; retrying in {wait:g}s")
            time.sleep(wait)
    if sha512:
        got = sha512_of(part)
        if got != sha512:
            part.unlink()
            raise DownloadError(
                f"{url}: sha512 mismatch (expected {sha512[:16]}…, got {got[:16]}…); the file was removed"
            )
        emit("sha512 verified")
    os.replace(part, dest)


def _http(url: str, part: Path, emit, stall_seconds: float, connect_timeout: float = 30) -> None:
    have = part.stat().st_size if part.exists() else 0
    # identity: byte ranges count the file's own bytes (a .tgz must not be gunzipped on the way)
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
    timeout = httpx.Timeout(connect_timeout, read=stall_seconds)
    with httpx.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True) as r:
        if r.status_code == 416 and have:  # nothing after byte `have`: complete, if the sizes agree
            size = r.headers.get("content-range", "").rpartition("/")[2]
            if size.isdigit() and int(size) == have:
                return
            raise _Restart(
                f"{url}: the partial file ({have} bytes) is larger than the file on the server; starting again"
            )
        if r.status_code >= 400:
            cls = _Permanent if 400 <= r.status_code < 500 and r.status_code not in (408, 429) else DownloadError
            raise cls(f"{url}: HTTP {r.status_code} {r.reason_phrase}".rstrip())
        if r.status_code == 206:
            start = r.headers.get("content-range", "").removeprefix("bytes ").split("-", 1)[0]
            if start != str(have):
                raise _Restart(f"{url}: asked for bytes {have}- but the server sent {r.headers.get('content-range')!r}")
            mode = "ab"
            emit(f"resuming the download at byte {have}")
        else:
            mode = "wb"  # 200: the server ignores Range, so the whole file comes again
        total = int(r.headers.get("content-length", 0)) + (have if mode == "ab" else 0)
        got = have if mode == "ab" else 0
        last_report = 0.0
        with open(part, mode) as f:
            try:
                for chunk in r.iter_raw():  # as it arrives: a cut or stall keeps every byte received
                    f.write(chunk)
                    got += len(chunk)
                    if time.monotonic() - last_report > 2:
                        last_report = time.monotonic()
                        emit(f"downloaded {got >> 20} MiB" + (f" of {total >> 20} MiB" if total else ""))
            except httpx.ReadTimeout:
                raise DownloadError(
                    f"{url}: transfer stalled: no data for {stall_seconds:g}s (after {got} of {total or '?'} bytes)"
                ) from None
            except (httpx.RemoteProtocolError, httpx.ReadError) as e:
                raise DownloadError(f"{url}: transfer ended early ({got} of {total or '?'} bytes): {e}") from None
            finally:
                f.flush()
                os.fsync(f.fileno())
        if total and got < total:
            raise DownloadError(f"{url}: transfer ended early ({got} of {total} bytes)")
