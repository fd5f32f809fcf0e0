"""Health probes that hit the gateway and the hub, and the end-to-end proof a user would make:
PAM login -> the user's server spawns -> its kernelspecs come from the gateway -> a Spark kernel
started through the hub runs a real job. (A kernel with a broken JAVA_HOME still starts: only a
job proves Spark works.)"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx


class HealthError(Exception):
    pass


def gateway_version(url: str, token: str, timeout: float = 5) -> str:
    r = httpx.get(f"{url}/api", headers={"Authorization": f"token {token}"}, timeout=timeout)
    if r.status_code != 200:
        raise HealthError(f"gateway {url}/api answered HTTP {r.status_code} with the token")
    return r.json().get("version", "?")


def gateway_rejects_anonymous(url: str, timeout: float = 5) -> int:
    codes = {p: httpx.get(f"{url}{p}", timeout=timeout).status_code for p in ("/api/kernelspecs", "/api/kernels")}
    bad = {p: c for p, c in codes.items() if c not in (401, 403)}
    if bad:
        raise HealthError(f"gateway answers without the token: {bad}; anyone who reaches it can run code")
    return codes["/api/kernelspecs"]


def hub_version(url: str, timeout: float = 5) -> str:
    r = httpx.get(f"{url}/hub/api", timeout=timeout)
    if r.status_code != 200:
        raise HealthError(f"hub {url}/hub/api answered HTTP {r.status_code}")
    return r.json().get("version", "?")


@dataclass
class Smoke:
    phases: dict[str, float] = field(default_factory=dict)
    result: str = ""


class _Timer:
    def __init__(self, smoke: Smoke, name: str, say):
        self.smoke, self.name, self.say = smoke, name, say

    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.smoke.phases[self.name] = time.monotonic() - self.t0
        if exc[0] is None:
            self.say(f"{self.name}: {self.smoke.phases[self.name]:.1f}s")


def login_and_spark_job(hub_url: str, user: str, password: str, kernel_name: str, *,
                        code: str = "spark.range(1000).count()", expect: str = "1000",
                        timeout: float = 240, say=lambda s: None) -> Smoke:
    """The whole user path over HTTP + websocket, as JupyterLab does it."""
    smoke = Smoke()
    base = hub_url.rstrip("/")
    user_base = f"{base}/user/{quote(user)}"
    deadline = time.monotonic() + timeout
    with httpx.Client(follow_redirects=True, timeout=30) as c:
        with _Timer(smoke, "login", say):
            c.get(f"{base}/hub/login")
            xsrf = c.cookies.get("_xsrf", path="/hub/") or c.cookies.get("_xsrf") or ""
            r = c.post(f"{base}/hub/login?next=", data={"username": user, "password": password, "_xsrf": xsrf},
                       follow_redirects=False)
            if r.status_code not in (302, 303):
                raise HealthError(f"PAM login as {user} failed (HTTP {r.status_code}): wrong password, user missing, or the hub not running as root")
        with _Timer(smoke, "spawn", say):
            c.post(f"{base}/hub/api/users/{quote(user)}/server",
                   headers={"X-XSRFToken": c.cookies.get("_xsrf", path="/hub/") or xsrf, "Referer": f"{base}/hub/home"})
            while True:
                r = c.get(f"{user_base}/api/status")  # follows the OAuth redirects once the server is up
                if r.status_code == 200 and r.headers.get("content-type", "").startswith("application/json"):
                    break
                if time.monotonic() > deadline:
                    raise HealthError(f"{user}'s server did not come up (last HTTP {r.status_code} at {r.url})")
                time.sleep(0.5)
        xsrf_user = c.cookies.get("_xsrf", path=f"/user/{user}/") or ""
        headers = {"X-XSRFToken": xsrf_user} if xsrf_user else {}
        with _Timer(smoke, "kernelspecs", say):
            r = c.get(f"{user_base}/api/kernelspecs")
            specs = r.json().get("kernelspecs", {}) if r.status_code == 200 else {}
            if kernel_name not in specs:
                raise HealthError(
                    f"{user}'s server does not list '{kernel_name}' (HTTP {r.status_code}; lists {sorted(specs) or 'nothing'}): "
                    "the gateway settings do not reach the user server, or the gateway refused the token")
        with _Timer(smoke, "kernel start", say):
            r = c.post(f"{user_base}/api/kernels", json={"name": kernel_name}, headers=headers,
                       timeout=max(30.0, deadline - time.monotonic()))
            if r.status_code not in (200, 201):
                raise HealthError(f"starting kernel '{kernel_name}' through the hub failed: HTTP {r.status_code}: {r.text[:300]}")
            kid = r.json()["id"]
        try:
            with _Timer(smoke, "job", say):
                smoke.result = _execute(c, user_base, kid, code, deadline)
        finally:
            c.delete(f"{user_base}/api/kernels/{kid}", headers=headers)
    if expect not in smoke.result:
        raise HealthError(f"the Spark job returned {smoke.result!r}, expected {expect}")
    return smoke


def _execute(c: httpx.Client, user_base: str, kid: str, code: str, deadline: float) -> str:
    from websockets.sync.client import connect

    ws_url = user_base.replace("http", "ws", 1) + f"/api/kernels/{kid}/channels?session_id={uuid.uuid4()}"
    cookie = "; ".join(f"{k.name}={k.value}" for k in c.cookies.jar)
    msg_id = uuid.uuid4().hex
    request = {
        "header": {"msg_id": msg_id, "username": "jeg-wizard", "session": uuid.uuid4().hex, "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False},
    }
    out, error = [], None
    with connect(ws_url, additional_headers={"Cookie": cookie}, open_timeout=30, max_size=None) as ws:
        ws.send(json.dumps(request))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HealthError(f"no result from the kernel before the deadline (output so far: {''.join(out)!r})")
            msg = json.loads(ws.recv(timeout=left))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            t, content = msg["msg_type"], msg["content"]
            if t == "execute_result":
                out.append(content["data"].get("text/plain", ""))
            elif t == "stream":
                out.append(content.get("text", ""))
            elif t == "error":
                error = f"{content.get('ename')}: {content.get('evalue')}"
            elif t == "status" and content.get("execution_state") == "idle":
                break
    if error:
        hint = " (`spark` undefined: the kernel started but Spark did not; check JAVA_HOME/SPARK_HOME in the kernelspec)" if "NameError" in error else ""
        raise HealthError(f"the kernel raised {error}{hint}")
    return "".join(out).strip()
