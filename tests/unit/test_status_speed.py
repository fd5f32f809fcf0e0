"""`status --json` and `doctor` read the validated answers from a cache (answers_cache), compare the configs
with a cached render (render.compared) and probe plain-http endpoints with the standard library (httpget):
so a healthy check imports neither pydantic, jinja2, httpx nor ssl. Each seam gives what the slow path gives."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import tomli_w

from jeg_wizard import answers, answers_cache, render
from jeg_wizard.answers_base import AnswersError
from jeg_wizard.checks import configs, httpget
from jeg_wizard.layout import Layout

ROOT = Path(__file__).resolve().parent.parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(tmp_path: Path, **over) -> Path:
    data = {
        "system": {
            "prefix": str(tmp_path / "opt"),
            "state_dir": str(tmp_path / "state"),
            "log_dir": str(tmp_path / "log"),
        },
        "hub": {"config_dir": str(tmp_path / "etc"), "port": _port(), "hub_port": _port()},
        "gateway": {"port": _port()},
        "proxy": {"api_port": _port()},
        "kernels": {"dir": str(tmp_path / "kernels")},
        "environment": {"file": str(tmp_path / "environment")},
        "services": {"manager": "process"},
        "site": {},
    }
    for section, values in over.items():
        data.setdefault(section, {}).update(values)
    path = tmp_path / "answers.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _same(view, model) -> None:
    assert view.model_dump() == model.model_dump()
    for name in type(model).model_fields:
        v, m = getattr(view, name), getattr(model, name)
        if hasattr(type(m), "model_fields"):
            _same(v, m)
        else:
            assert v == m and type(v) is type(m), name


def test_the_cache_gives_what_the_model_gave(tmp_path):
    path = _answers(tmp_path, spark={"master": "spark://127.0.0.1:7077"})
    first = answers_cache.load(str(path))  # validated, then cached
    assert isinstance(first, answers.Answers)
    again = answers_cache.load(str(path))
    assert isinstance(again, answers_cache.Section)
    _same(again, first)
    assert again.site.split is first.site.split is False  # a computed property, kept
    assert Layout(again).ports == Layout(first).ports and Layout(again).gateway_url == Layout(first).gateway_url
    assert again.ldap is None and hash(Layout(again)) == hash(Layout(again))
    with pytest.raises(TypeError):
        again.gateway = None
    with pytest.raises(AttributeError):
        again.gateway.no_such_key  # noqa: B018
    cache = Path(answers_cache.cache_file(str(path)))
    assert cache.stat().st_mode & 0o777 == 0o600 and cache.parent.stat().st_mode & 0o777 == 0o700


def test_a_changed_or_broken_file_is_validated_again(tmp_path):
    path = _answers(tmp_path)
    answers_cache.load(str(path))
    assert isinstance(answers_cache.load(str(path)), answers_cache.Section)
    path.write_text(path.read_text().replace("[site]", "[gateway_typo]"))
    with pytest.raises(AnswersError):  # the same refusal as answers.load, whatever was cached before
        answers_cache.load(str(path))
    path.write_text(path.read_text().replace("[gateway_typo]", "[site]"))
    path.chmod(0o600)
    assert isinstance(answers_cache.load(str(path)), answers.Answers)  # the mode is in the key too


def test_the_cached_render_is_the_render(tmp_path):
    L = Layout(answers.load(str(_answers(tmp_path))))
    for template in configs.TEMPLATES.values():
        want = render.render(template, render.context(L), check=False)
        assert render.compared(template, render.context(L)) == want  # rendered, kept
        assert render.compared(template, render.context(L)) == want  # from the cache
    other = Layout(answers.load(str(_answers(tmp_path, gateway={"max_kernels": 3}))))
    got = render.compared(configs.TEMPLATES["gateway"], render.context(other))
    assert got == render.render(configs.TEMPLATES["gateway"], render.context(other), check=False) and got != want


class _Answering(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"a": ', b"1}"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        body = json.dumps({"path": self.path, "auth": self.headers.get("Authorization")}).encode()
        self.send_response(401 if self.path == "/denied" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    s = ThreadingHTTPServer(("127.0.0.1", 0), _Answering)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{s.server_address[1]}"
    s.shutdown()
    s.server_close()


def test_plain_http_gets(server):
    c = httpget.Client(2)
    r = c.get(f"{server}/api?x=1", headers={"Authorization": "token t"})
    assert r.status_code == 200 and r.json() == {"path": "/api?x=1", "auth": "token t"}
    assert c.get(f"{server}/denied").status_code == 401
    assert c.get(f"{server}/chunked").json() == {"a": 1}


def test_plain_http_errors_are_named_as_httpx_names_them():
    from jeg_wizard.checks.gateway import why_unreachable

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: refused
        with pytest.raises(httpget.errors()) as e:
            httpget.Client(2).get(f"http://127.0.0.1:{closed.getsockname()[1]}/")
    assert type(e.value).__name__ == "ConnectError" and why_unreachable(e.value, 2).startswith("connection refused")
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(1)  # accepts, never answers
        t0 = time.monotonic()
        with pytest.raises(httpget.timeouts()) as e:
            httpget.Client(0.3).get(f"http://127.0.0.1:{hung.getsockname()[1]}/")
        assert time.monotonic() - t0 < 2 and type(e.value).__name__ == "ReadTimeout"
        assert why_unreachable(e.value, 0.3).startswith("no answer within 0.3s")


def test_a_config_compiles_here_when_the_service_runs_this_python(tmp_path, monkeypatch):
    from jeg_wizard import services

    good, broken = tmp_path / "good.py", tmp_path / "broken.py"
    good.write_text("c = 1\n")
    broken.write_text("c = (\n")

    def no_process(*a, **kw):
        raise AssertionError("a process was started")

    monkeypatch.setattr(services.subprocess, "run", no_process)
    assert services.config_error(sys.executable, good) == ""
    monkeypatch.undo()
    assert "does not compile" in services.config_error(sys.executable, broken)  # in its own words


def test_a_healthy_status_imports_none_of_the_heavy_modules(tmp_path):
    """The second `status --json` of an install whose endpoints answer (the first one fills the caches)."""
    path = _answers(tmp_path)
    a = answers.load(str(path))
    L = Layout(a)
    L.config_dir.mkdir(parents=True)
    for which in configs.TEMPLATES:
        configs.path(L, which).write_text(configs.fresh(L, which))
    servers = []
    for port in (a.gateway.port, a.hub.port, a.hub.hub_port, a.proxy.api_port):
        s = ThreadingHTTPServer(("127.0.0.1", port), _Answering)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
    code = (
        "import sys\nfrom jeg_wizard.cli import main\n"
        f"code = main(['status', '--json', '--answers', {str(path)!r}])\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
    json.loads(r.stdout)  # it reported
    loaded = r.stderr.split()
    assert "jeg_wizard.checks.gateway" in loaded, r.stderr
    heavy = sorted(m for m in loaded if m.split(".")[0] in ("pydantic", "pydantic_core", "jinja2", "httpx", "ssl"))
    assert not heavy, f"status --json imported {heavy}"


def test_a_cache_another_account_could_write_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = _answers(tmp_path)
    answers_cache.load(str(path))
    cache = Path(answers_cache.cache_file(str(path)))
    assert isinstance(answers_cache.load(str(path)), answers_cache.Section)
    cache.chmod(0o622)  # writable by others: planted values would be believed
    assert isinstance(answers_cache.load(str(path)), answers.Answers)
    cache.parent.chmod(0o777)
    assert answers_cache.cache_dir() is None and isinstance(answers_cache.load(str(path)), answers.Answers)
    cache.parent.chmod(0o700)
    old = cache.parent / "answers-0123.json"
    old.write_text("{}")
    os.utime(old, (0, 0))
    path.write_text(path.read_text() + "\n")  # a miss: written again, and the month-old cache pruned
    answers_cache.load(str(path))
    assert isinstance(answers_cache.load(str(path)), answers_cache.Section) and not old.exists()
