"""The end-to-end proof a user would make (the checks, one per component, are in checks/):
PAM login -> the user's server spawns -> its kernelspecs come from the gateway -> a Spark kernel
started through the hub runs a real job. (A kernel with a broken JAVA_HOME still starts: only a
job proves Spark works.)"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

from .layout import R_KERNEL, SCALA_KERNEL


class HealthError(Exception):
    pass


def describe_ssl_error(exc: BaseException) -> str:
    """Find the certificate problem inside an httpx/ssl error chain, in words an operator can act on."""
    import ssl

    e: BaseException | None = exc
    while e is not None:
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {e.verify_message or e.reason}"
        if isinstance(e, ssl.SSLError):
            return f"TLS error: {e.reason or e}"
        e = e.__cause__ or e.__context__
    return str(exc)


def _ssl_context(verify: str | bool):
    """The ssl context for a websocket to an https base URL (a CA file, or the system's CAs)."""
    import ssl

    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else ssl.create_default_context()


def tls_verify(verify: str | bool):
    """httpx's verify=: a CA file path becomes a context (httpx deprecates paths)."""
    return _ssl_context(verify) if isinstance(verify, str) else verify


def _get(url: str, verify: str | bool, **kw) -> httpx.Response:
    try:
        return httpx.get(url, verify=tls_verify(verify), **kw)
    except httpx.HTTPError as e:
        why = describe_ssl_error(e)
        if why.startswith("TLS"):  # say which certificate problem; other errors stay as they are
            raise HealthError(f"{url}: {why}") from None
        raise


def gateway_version(url: str, token: str, timeout: float = 5, verify: str | bool = True) -> str:
    r = _get(f"{url}/api", verify, headers={"Authorization": f"token {token}"}, timeout=timeout)
    if r.status_code != 200:
        raise HealthError(f"gateway {url}/api answered HTTP {r.status_code} with the token")
    body = r.json()
    return f"{body.get('gateway_version', '?')} (jupyter_server {body.get('version', '?')})"


def hub_version(url: str, timeout: float = 5, verify: str | bool = True) -> str:
    r = _get(f"{url}/hub/api", verify, timeout=timeout)
    if r.status_code != 200:
        raise HealthError(f"hub {url}/hub/api answered HTTP {r.status_code}")
    return r.json().get("version", "?")


def _message(r: httpx.Response) -> str:
    try:
        return str(r.json().get("message", ""))[:300]
    except ValueError:
        return " ".join(r.text.split())[:300]


@dataclass
class Smoke:
    phases: dict[str, float] = field(default_factory=dict)
    result: str = ""
    total: float = 0.0  # the wall time; the phases add up to it

    def timings(self) -> str:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in self.phases.items())
        return f"{parts}; total {self.total:.1f}s" if self.total else parts


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


def login_and_spark_job(hub_url: str, user: str, password: str, kernel_name: str, **kw) -> Smoke:
    """The whole user path over HTTP + websocket, as JupyterLab does it. A failure is one HealthError
    line (an unreachable hub, a dropped websocket: never a traceback)."""
    t0 = time.monotonic()
    try:
        return _login_and_spark_job(hub_url, user, password, kernel_name, **kw)
    except HealthError:
        raise
    except Exception as e:  # noqa: BLE001
        raise HealthError(
            f"login -> Spark job as {user} at {hub_url} failed after {time.monotonic() - t0:.1f}s: {_one_line(e)}; "
            "see the hub log"
        ) from None


def _login_and_spark_job(
    hub_url: str,
    user: str,
    password: str,
    kernel_name: str,
    *,
    code: str = "spark.range(1000).count()",
    expect: str = "1000",
    timeout: float = 240,
    say=lambda s: None,
    verify: str | bool = True,
    page: str = "/lab",
) -> Smoke:
    smoke = Smoke()
    t0 = time.monotonic()
    base = hub_url.rstrip("/")
    user_base = f"{base}/user/{quote(user)}"
    deadline = time.monotonic() + timeout
    with httpx.Client(follow_redirects=True, timeout=30, verify=tls_verify(verify)) as c:
        with _Timer(smoke, "login", say):
            c.get(f"{base}/hub/login")
            xsrf = c.cookies.get("_xsrf", path="/hub/") or c.cookies.get("_xsrf") or ""
            r = c.post(
                f"{base}/hub/login?next=",
                data={"username": user, "password": password, "_xsrf": xsrf},
                follow_redirects=False,
            )
            if r.status_code not in (302, 303):
                raise HealthError(
                    f"login as {user} failed (HTTP {r.status_code}): wrong password, user missing or not allowed "
                    "(PAM: the hub not running as root; LDAP: not in ldap.allowed_groups)"
                )
        with _Timer(smoke, "spawn", say):
            c.post(
                f"{base}/hub/api/users/{quote(user)}/server",
                headers={"X-XSRFToken": c.cookies.get("_xsrf", path="/hub/") or xsrf, "Referer": f"{base}/hub/home"},
            )
            while True:
                # an HTML page: once the server is up the hub sends us through its OAuth redirect,
                # which sets the cookie API calls need (API URLs answer 403 instead of redirecting)
                r = c.get(f"{user_base}{page}")  # /tree: the classic notebook (hub.gateway_client = nb2kg)
                if r.status_code == 200 and str(r.url).startswith(f"{user_base}/"):
                    break
                if time.monotonic() > deadline:
                    raise HealthError(
                        f"{user}'s server did not come up (last HTTP {r.status_code} at {r.url}); see the hub log"
                    )
                time.sleep(0.5)
        # the classic notebook sets its _xsrf cookie on / (tornado's default), jupyter_server on the server's prefix
        xsrf_user = c.cookies.get("_xsrf", path=f"/user/{user}/") or c.cookies.get("_xsrf", path="/") or ""
        headers = {"X-XSRFToken": xsrf_user} if xsrf_user else {}
        with _Timer(smoke, "kernelspecs", say):
            r = c.get(f"{user_base}/api/kernelspecs")
            specs = r.json().get("kernelspecs", {}) if r.status_code == 200 else {}
            if kernel_name not in specs:
                said = _message(r) if r.status_code != 200 else ""
                raise HealthError(
                    f"{user}'s server does not list '{kernel_name}' (HTTP {r.status_code}; lists {sorted(specs) or 'nothing'}"
                    f"{'; it says: ' + said if said else ''}): the gateway settings do not reach the user server, the "
                    "gateway refused the token, or the user server could not verify the gateway's TLS certificate "
                    "(its log is in the hub's log)"
                )
        with _Timer(smoke, "kernel start", say):
            r = c.post(
                f"{user_base}/api/kernels",
                json={"name": kernel_name},
                headers=headers,
                timeout=max(30.0, deadline - time.monotonic()),
            )
            if r.status_code not in (200, 201):
                raise HealthError(
                    f"starting kernel '{kernel_name}' through the hub failed: HTTP {r.status_code}: {_message(r)}"
                )
            kid = r.json()["id"]
        try:
            cookie = "; ".join(f"{k.name}={k.value}" for k in c.cookies.jar)
            ready = _Timer(smoke, "kernel ready", say).__enter__()  # the websocket opens, kernel_info answers
            with _KernelSocket(user_base, kid, deadline, {"Cookie": cookie}, verify) as ks:
                ks.request("kernel_info_request", {})
                ready.__exit__(None, None, None)
                with _Timer(smoke, "job", say):
                    smoke.result = ks.execute(code)
        finally:
            with _Timer(smoke, "kernel delete", say):
                c.delete(f"{user_base}/api/kernels/{kid}", headers=headers)
        smoke.total = time.monotonic() - t0
    if expect not in smoke.result:
        raise HealthError(f"the Spark job returned {smoke.result!r}, expected {expect}")
    return smoke


def _one_line(e: BaseException) -> str:
    """An error in one line an operator can read: no raw bodies, no tracebacks."""
    if isinstance(e, HealthError):
        return str(e)
    if isinstance(e, httpx.HTTPError):
        why = describe_ssl_error(e)
        return why if why.startswith("TLS") else f"no answer ({type(e).__name__})"
    if isinstance(e, TimeoutError):
        return "no answer before the deadline"
    text = " ".join(str(e).split())[:200]
    return f"{type(e).__name__}{': ' + text if text else ''}"


def oidc_login_redirect(hub_url: str, callback_url: str, client_id: str, verify: str | bool = True) -> str:
    """The hub's /hub/oauth_login sends the browser to the provider with our client id and callback URL."""
    from urllib.parse import parse_qs, urlsplit

    r = _get(f"{hub_url}/hub/oauth_login", verify, timeout=10, follow_redirects=False)
    where = r.headers.get("location", "")
    if r.status_code not in (301, 302, 303, 307) or not where:
        raise HealthError(f"{hub_url}/hub/oauth_login answered HTTP {r.status_code}, not a redirect to the provider")
    q = parse_qs(urlsplit(where).query)
    if q.get("client_id") != [client_id]:
        raise HealthError(f"the hub sends users to the provider with client_id {q.get('client_id')}, not {client_id!r}")
    if q.get("redirect_uri") != [callback_url]:
        raise HealthError(
            f"the hub asks the provider to send users back to {q.get('redirect_uri')}, not {callback_url} "
            "(hub.public_url)"
        )
    u = urlsplit(where)
    return f"the hub's login sends users to {u.scheme}://{u.netloc}{u.path}, back to {callback_url}"


# kernels.scala and kernels.r, by kernelspec directory: (kernel, code, what its output holds)
OTHER_KERNEL_PROBES = {
    SCALA_KERNEL: ("Scala", "spark.range(1000).count()", "1000"),
    R_KERNEL: ("R", "sum(1:100)", "5050"),
}


def gateway_spark_job(
    gateway_url: str,
    token: str,
    kernel_name: str,
    user: str,
    *,
    code: str = "spark.range(1000).count()",
    expect: str = "1000",
    timeout: float = 240,
    say=lambda s: None,
    verify: str | bool = True,
) -> Smoke:
    """Straight to the gateway (no hub): start a Spark kernel as `user`, run a job, delete it.

    The phases follow each other, so they add up to the wall time: start request (the gateway
    launches the kernel process before it answers), launch (the kernel's channels open), ready
    (kernel_info answered), job, delete. A failure is one HealthError line naming its phase."""
    smoke = Smoke()
    t0 = last = time.monotonic()
    deadline = t0 + timeout
    phase, kid = "start request", None

    def done(name: str, next_phase: str) -> None:
        nonlocal last, phase
        now = time.monotonic()
        smoke.phases[name] = now - last
        say(f"{name}: {smoke.phases[name]:.1f}s")
        last, phase = now, next_phase

    try:
        with httpx.Client(timeout=30, headers={"Authorization": f"token {token}"}, verify=tls_verify(verify)) as c:
            try:
                r = c.post(
                    f"{gateway_url}/api/kernels",
                    json={"name": kernel_name, "env": {"KERNEL_USERNAME": user}},
                    timeout=max(30.0, deadline - time.monotonic()),
                )
                if r.status_code not in (200, 201):
                    raise HealthError(f"HTTP {r.status_code}: {_message(r) or r.reason_phrase}")
                kid = r.json()["id"]
                done("start request", "launch")
                with _KernelSocket(gateway_url, kid, deadline, {"Authorization": f"token {token}"}, verify) as ks:
                    done("launch", "ready")
                    ks.request("kernel_info_request", {})
                    done("ready", "job")
                    smoke.result = ks.execute(code)
                    done("job", "delete")
            finally:
                if kid:
                    failed = phase != "delete"
                    if failed:  # what ran until the failure still counts
                        smoke.phases[phase] = time.monotonic() - last
                        last = time.monotonic()
                    try:
                        c.delete(f"{gateway_url}/api/kernels/{kid}")
                    except httpx.HTTPError:
                        if not failed:
                            raise
                    smoke.phases["delete"] = time.monotonic() - last
    except Exception as e:  # noqa: BLE001 - one line for the operator, never a traceback
        smoke.total = time.monotonic() - t0
        raise HealthError(f"{phase} of '{kernel_name}' failed after {smoke.total:.1f}s: {_one_line(e)}") from None
    smoke.total = time.monotonic() - t0
    if expect not in smoke.result:
        raise HealthError(f"the Spark job returned {smoke.result!r}, expected {expect}")
    return smoke


LATE_RESULT = 5.0  # seconds a job's output may trail the kernel's idle status and its reply (Toree's do)


class _KernelSocket:
    """The kernel's websocket through the hub, speaking the Jupyter messaging protocol."""

    def __init__(self, base: str, kid: str, deadline: float, headers: dict[str, str], verify: str | bool = True):
        self.url = base.replace("http", "ws", 1) + f"/api/kernels/{kid}/channels?session_id={uuid.uuid4()}"
        self.headers = headers
        self.ssl = _ssl_context(verify) if self.url.startswith("wss:") else None
        self.deadline = deadline
        self.session = uuid.uuid4().hex

    def __enter__(self):
        from websockets.sync.client import connect

        kw = {"ssl": self.ssl} if self.ssl else {}
        self.ws = connect(
            self.url,
            additional_headers=self.headers,
            open_timeout=max(30.0, self.deadline - time.monotonic()),
            max_size=None,
            **kw,
        ).__enter__()
        return self

    def __exit__(self, *exc):
        self.ws.__exit__(*exc)

    def _send(self, msg_type: str, content: dict) -> str:
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": "jeg-wizard",
                        "session": self.session,
                        "msg_type": msg_type,
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "content": content,
                }
            )
        )
        return msg_id

    def _replies(self, msg_id: str, until: Callable[[], float | None] = lambda: None):
        """The messages answering msg_id; they end at until() (a monotonic time, when it gives one)."""
        while True:
            end = min(until() or self.deadline, self.deadline)
            left = end - time.monotonic()
            if left <= 0:
                if end < self.deadline:
                    return
                raise HealthError("the kernel did not answer before the deadline")
            try:
                msg = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                continue  # the loop says which deadline passed
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                yield msg

    def request(self, msg_type: str, content: dict) -> dict:
        msg_id = self._send(msg_type, content)
        reply = msg_type.replace("_request", "_reply")
        for msg in self._replies(msg_id):
            if msg["msg_type"] == reply:
                return msg["content"]
        raise AssertionError("unreachable")

    def execute(self, code: str) -> str:
        msg_id = self._send(
            "execute_request",
            {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False},
        )
        result, stdout, error = None, [], None
        idle = replied = False
        late: list[float] = []  # Toree can publish its result after both idle and its reply: a short wait for it
        for msg in self._replies(msg_id, lambda: late[0] if late else None):
            t, content = msg["msg_type"], msg["content"]
            if t == "execute_result":
                result = content["data"].get("text/plain", "")
            elif t == "display_data" and result is None:  # IRkernel shows a value as display data
                result = content.get("data", {}).get("text/plain", "")
            elif t == "stream" and content.get("name") == "stdout":  # stderr: Spark's progress bar
                stdout.append(content.get("text", ""))
            elif t == "status" and content.get("execution_state") == "idle":
                idle = True
            replied = replied or t == "execute_reply"
            if t == "error" or (t == "execute_reply" and content.get("status") == "error" and not error):
                error = f"{content.get('ename')}: {content.get('evalue')}"
            if idle and replied:
                if result is not None or stdout or error:
                    break
                if not late:
                    late.append(time.monotonic() + LATE_RESULT)
        if error:
            hint = (
                (
                    " (`spark` is undefined: the kernel started but Spark did not; check JAVA_HOME and "
                    "SPARK_HOME in the kernelspec)"
                )
                if "NameError" in error
                else ""
            )
            raise HealthError(f"the kernel raised {error}{hint}")
        return (result if result is not None else "".join(stdout)).strip()
