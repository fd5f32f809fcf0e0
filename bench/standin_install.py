"""A healthy install for bench/status_json.py without installing anything: an answers file in DIR whose paths
all point into DIR (configs rendered by the wizard, secrets 0600, a Spark kernelspec whose files exist, the
driver JVM archive and its key), and stand-in processes for the services, each recorded as the process
manager records them: the gateway (its API: 401 without the token, its version, our kernelspec, no kernels;
run as gateway.user), the hub (its API's /hub/health; run as root) and, as the hub's child, the proxy (the
public /hub/api and the routes API with the proxy token). The venvs' pythons are links to this python, so the
services check compiles the configs as on an install. Ports are free ones, never the defaults.

Usage (as root): python bench/standin_install.py DIR [--admin USER] [--gateway-user USER]
  prints DIR/answers.toml once the stand-ins answer, then serves until interrupted (Ctrl-C or SIGTERM).
Then: python bench/status_json.py --answers DIR/answers.toml
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _secret(path: Path, text: str, owner: str = "root") -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
    path.write_text(text)
    path.chmod(0o600)
    pw = pwd.getpwnam(owner)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def build(root: Path, admin: str, gateway_user: str) -> Path:
    import tomli_w

    from jeg_wizard import render
    from jeg_wizard.answers import load
    from jeg_wizard.checks import configs
    from jeg_wizard.class_archive import driver_archive_key, key_file
    from jeg_wizard.layout import Layout

    root = root.resolve()
    java = root / "jdk"
    data = {
        "system": {"prefix": str(root / "opt"), "state_dir": str(root / "state"), "log_dir": str(root / "log")},
        "java": {"version": 17, "home": str(java)},
        "environment": {"file": str(root / "environment")},
        "kernels": {"dir": str(root / "kernels")},
        "gateway": {"port": _port(), "user": gateway_user},
        "proxy": {"api_port": _port()},
        "hub": {"port": _port(), "hub_port": _port(), "config_dir": str(root / "etc")},
        "users": {"admin": admin},
        "services": {"manager": "process"},
    }
    answers = root / "answers.toml"
    root.mkdir(parents=True, exist_ok=True)
    answers.write_text(tomli_w.dumps(data))
    L = Layout(load(str(answers)))
    (root / "environment").write_text("")
    # the JDK and Spark the kernelspec and the archive's key name
    for f in ("bin/java", "lib/server/libjvm.so", "lib/server/classes.jsa"):
        (java / f).parent.mkdir(parents=True, exist_ok=True)
        (java / f).write_text("")
    (java / "bin/java").chmod(0o755)
    (java / "release").write_text('JAVA_VERSION="17.0.99"\n')
    spark = L.spark_real_home
    for f in ("bin/spark-submit", "python/pyspark/__init__.py", "python/pyspark/shell.py", "jars/spark-core.jar"):
        (spark / f).parent.mkdir(parents=True, exist_ok=True)
        (spark / f).write_text("")
    for f in ("pyspark/__init__.py", "py4j/__init__.py"):  # PyPI's Spark: PYTHONPATH names the directory above
        (L.spark_dir / f).parent.mkdir(parents=True, exist_ok=True)
        (L.spark_dir / f).write_text("")
    L.spark_link.parent.mkdir(parents=True, exist_ok=True)
    if not L.spark_link.is_symlink():
        L.spark_link.symlink_to(L.spark_dir)
    # venvs: their pythons are this interpreter (the services check compiles each config with them)
    for venv in (L.gateway_venv, L.hub_venv, L.kernel_venv):
        (venv / "bin").mkdir(parents=True, exist_ok=True)
        (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
        if not (venv / "bin" / "python").exists():
            (venv / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    (L.kernel_venv / "lib/python3.12/site-packages/ipykernel").mkdir(parents=True, exist_ok=True)
    # configs and the kernelspec, rendered as the install renders them
    L.config_dir.mkdir(parents=True, exist_ok=True)
    for which in ("hub", "gateway"):
        configs.path(L, which).write_text(configs.fresh(L, which))
    template = render.kernel_template_for(L.a.spark.master)
    for rel in render.kernel_files(template):
        target = L.kernel_dir / rel.removesuffix(".j2")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render.render(f"{template}/{rel}", render.context(L), package="jeg_wizard.kernels"))
    kernel = json.loads((L.kernel_dir / "kernel.json").read_text())
    for entry in kernel["env"]["PYTHONPATH"].split(":"):
        if entry.endswith(".zip"):
            Path(entry).parent.mkdir(parents=True, exist_ok=True)
            Path(entry).write_bytes(b"")
    archive = L.kernel_jvm_archive
    if archive is not None:
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.write_bytes(b"")
        key_file(archive).write_text(driver_archive_key(L) + "\n")
    # secrets, the gateway's home, the services' records
    _secret(L.gateway_token_file, "standin-gateway-token\n", gateway_user)
    _secret(L.proxy_token_file, "standin-proxy-token\n")
    _secret(L.hub_env_file, "CONFIGPROXY_AUTH_TOKEN=standin-proxy-token\n")
    _secret(L.cookie_secret_file, "00" * 32 + "\n")
    gw = pwd.getpwnam(gateway_user)
    for d in (L.gateway_home, L.gateway_runtime_dir):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chown(d, gw.pw_uid, gw.pw_gid)
    L.log_dir.mkdir(parents=True, exist_ok=True)
    L.services_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in ("gateway", "hub"):
        (L.services_dir / f"{name}.json").write_text(json.dumps({"name": name, "argv": [], "digest": "standin"}))
        L.service_log(name).write_text("")
    return answers


class _Handler(BaseHTTPRequestHandler):
    routes: dict = {}  # path -> (status, body) with the right token; None: 401 without it
    token = ""

    def do_GET(self):
        if self.token and self.headers.get("Authorization") != f"token {self.token}":
            status, body = 401, {"message": "Unauthorized"}
        else:
            status, body = self.routes.get(self.path, (404, {"message": "Not Found"}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _serve(ip: str, port: int, routes: dict, token: str = "") -> ThreadingHTTPServer:
    handler = type("H", (_Handler,), {"routes": routes, "token": token})
    server = ThreadingHTTPServer((ip, port), handler)
    Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve(servers: list, child: list | None) -> None:
    """Serve each (ip, port, routes, token); the hub starts the proxy as its child."""
    for ip, port, routes, token in servers:
        _serve(ip, port, {path: tuple(v) for path, v in routes.items()}, token)
    if child:
        proxy = subprocess.Popen([sys.executable, __file__, "--serve", json.dumps(child)])
        signal.signal(signal.SIGTERM, lambda *_: (proxy.terminate(), sys.exit(0)))
    signal.pause()


def standins(L) -> dict[str, list]:
    """What each stand-in serves: (ip, port, {path: (status, body)}, token or "")."""
    a = L.a
    kernel = a.kernels.name
    gateway = [
        (
            a.gateway.ip,
            a.gateway.port,
            {
                "/api": (200, {"gateway_version": "3.3.0", "version": "2.14.2"}),
                "/api/kernelspecs": (200, {"default": kernel, "kernelspecs": {kernel: {"name": kernel}}}),
                "/api/kernels": (200, []),
            },
            L.gateway_token_file.read_text().strip(),
        )
    ]
    hub = [(a.hub.hub_ip, a.hub.hub_port, {"/hub/health": (200, {}), "/hub/api": (200, {"version": "5.3.0"})}, "")]
    routes = {"/": {"target": f"http://{a.hub.hub_ip}:{a.hub.hub_port}"}}
    proxy = [
        (a.hub.ip, a.hub.port, {"/hub/api": (200, {"version": "5.3.0"})}, ""),
        (a.proxy.api_ip, a.proxy.api_port, {"/api/routes": (200, routes)}, L.proxy_token_file.read_text().strip()),
    ]
    return {"gateway": gateway, "hub": hub, "proxy": proxy}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("dir", nargs="?")
    p.add_argument("--admin", default="cloudsdk", help="an existing login account (home, shell)")
    p.add_argument("--gateway-user", default="nobody", help="an existing unprivileged account")
    p.add_argument("--serve", metavar="JSON", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        spec = json.loads(args.serve)
        return serve(spec["servers"], spec.get("child"))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's jeg_wizard
    from jeg_wizard.answers import load
    from jeg_wizard.layout import Layout

    answers = build(Path(args.dir), args.admin, args.gateway_user)
    L = Layout(load(str(answers)))
    what = standins(L)
    gw = pwd.getpwnam(args.gateway_user)
    me = str(Path(__file__).resolve())
    gateway = json.dumps({"servers": what["gateway"]})
    hub = json.dumps({"servers": what["hub"], "child": {"servers": what["proxy"]}})
    procs = {
        # the gateway as its own account, the hub as root (PAM), as on an install
        "gateway": subprocess.Popen([sys.executable, me, "--serve", gateway], user=gw.pw_uid, group=gw.pw_gid, cwd="/"),
        "hub": subprocess.Popen([sys.executable, me, "--serve", hub]),
    }
    for name, proc in procs.items():  # as ProcessManager records them: the supervisor's pid and its child's
        for suffix in ("pid", "child.pid"):
            (L.services_dir / f"{name}.{suffix}").write_text(f"{proc.pid}\n")
    time.sleep(1.0)
    print(answers, flush=True)
    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.pause()
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(5)


if __name__ == "__main__":
    main()
