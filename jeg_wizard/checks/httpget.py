"""The checks' plain-HTTP GETs with the standard library: importing httpx took longer than a healthy
`status --json` spends on all its probes. Only what the checks ask: GET, headers, no redirects followed,
no cookies, one connection per request; the response's status_code, content, text and json().

Plain http only: an https URL (the hub's TLS, the gateway's) and an environment with a web proxy
(http_proxy and the like, which httpx honours) get httpx as before (Install decides). Errors carry
httpx's names (a finding says `does not answer (ConnectError)`) with the socket's own error as their
cause, which why_unreachable and describe_ssl_error read."""

from __future__ import annotations

import json
import os
import socket
import sys


class HTTPError(Exception):
    pass


class TransportError(HTTPError):
    pass


class TimeoutException(TransportError):
    pass


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class NetworkError(TransportError):
    pass


class ConnectError(NetworkError):
    pass


class ReadError(NetworkError):
    pass


class RemoteProtocolError(TransportError):
    pass


def errors() -> tuple[type[BaseException], ...]:
    """What a failed GET raises: ours, and httpx's once httpx is loaded (no httpx error exists before)."""
    httpx = sys.modules.get("httpx")
    return (HTTPError, httpx.HTTPError) if httpx else (HTTPError,)


def timeouts() -> tuple[type[BaseException], ...]:
    httpx = sys.modules.get("httpx")
    return (TimeoutException, httpx.TimeoutException) if httpx else (TimeoutException,)


def proxied() -> bool:
    """A web proxy in the environment: httpx would send requests through it."""
    return any(k.lower().endswith("_proxy") and v for k, v in os.environ.items())


class Response:
    def __init__(self, status_code: int, content: bytes):
        self.status_code, self.content = status_code, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)


class Client:
    """http:// URLs only, HTTP/1.1 over a socket (http.client would import ssl: a fifth of the run)."""

    MAX = 16 << 20  # a check reads a version, a route table, a kernel list: never more

    def __init__(self, timeout: float):
        self.timeout = timeout

    def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        from urllib.parse import urlsplit

        u = urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"not a plain http URL: {url}")
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        lines = [f"GET {path} HTTP/1.1", f"Host: {u.netloc.rpartition('@')[2]}", "Accept: */*"]
        lines += ["Accept-Encoding: identity", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            sock = socket.create_connection((u.hostname, u.port or 80), timeout=self.timeout)
        except TimeoutError as e:
            raise ConnectTimeout(str(e) or "timed out") from e
        except OSError as e:
            raise ConnectError(str(e)) from e
        try:
            sock.sendall(request)
            return _response(_Reader(sock, self.MAX))
        except TimeoutError as e:
            raise ReadTimeout(str(e) or "timed out") from e
        except OSError as e:
            raise ReadError(str(e)) from e
        finally:
            sock.close()

    def close(self) -> None:
        pass


class _Reader:
    def __init__(self, sock: socket.socket, limit: int):
        self.sock, self.buf, self.limit, self.eof = sock, b"", limit, False

    def _more(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            self.eof = True
        self.buf += data
        if len(self.buf) > self.limit:
            raise RemoteProtocolError("response too large")

    def until(self, mark: bytes) -> bytes:
        while mark not in self.buf:
            if self.eof:
                raise RemoteProtocolError("Server disconnected without sending a complete response.")
            self._more()
        out, _, self.buf = self.buf.partition(mark)
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if self.eof:
                raise RemoteProtocolError("peer closed connection without sending complete message body")
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        while not self.eof:
            self._more()
        out, self.buf = self.buf, b""
        return out


def _response(r: _Reader) -> Response:
    while True:
        head = r.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        parts = head[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise RemoteProtocolError(f"not an HTTP response: {head[0][:80]!r}")
        status = int(parts[1])
        if not 100 <= status < 200:  # an interim 1xx answer: the real one follows
            break
    fields: dict[str, str] = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    if status in (204, 304):
        return Response(status, b"")
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = []
        while True:
            try:
                size = int(r.until(b"\r\n").split(b";")[0].strip(), 16)
            except ValueError:
                raise RemoteProtocolError("bad chunk size") from None
            if size == 0:
                break
            body.append(r.exactly(size))
            r.exactly(2)
        return Response(status, b"".join(body))
    if "content-length" in fields:
        try:
            n = int(fields["content-length"])
        except ValueError:
            raise RemoteProtocolError("bad Content-Length") from None
        return Response(status, r.exactly(n))
    return Response(status, r.rest())
