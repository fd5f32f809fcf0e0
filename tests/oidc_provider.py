"""A real OpenID Connect provider for the tests: panva's oidc-provider (tests/oidc/) run by node.

    with OidcProvider(clients=[{"client_id": "hub", "client_secret": s, "redirect_uris": [cb]}],
                      users={"alice": {"password": p, "groups": ["data-science"]}}) as op:
        op.issuer                                      # http://127.0.0.1:<free port>
        code = authorize_code(op, "hub", cb, "alice", p)

The node modules are installed once per package-lock.json (npm ci into /var/cache/jegw-oidc/<hash>/);
the config with the secrets and passwords is a 0600 file in a private temp dir, never an argument.
"""

from __future__ import annotations

import fcntl
import hashlib
import html.parser
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).parent / "oidc"
CACHE = Path(os.environ.get("JEGW_OIDC_CACHE", "/var/cache/jegw-oidc"))
NPM_TIMEOUT = 300  # seconds for `npm ci` (40 small packages; a dead registry fails well before)
START_TIMEOUT = 30.0  # seconds for the provider to answer its discovery document (it takes ~0.5 s)
START_ATTEMPTS = 2  # a fresh port the second time: a free port found by binding can be taken before node binds it


class ProviderUnavailable(RuntimeError):
    """node or npm is missing, or the npm registry cannot be reached: the tests that need it skip with this."""


class _NotServing(RuntimeError):
    """Started, but not answering on its port in time."""


class LoginFailed(RuntimeError):
    """The provider refused the login (or the consent, or the redirect): the message says which."""


def _lock_hash() -> str:
    return hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()[:16]


def node_modules() -> Path:
    """The installed node_modules for tests/oidc/package-lock.json, installing it on first use.
    Concurrent callers wait on a lock; a half-done install is never used (built aside, then renamed)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise ProviderUnavailable(
            "node and npm are needed for the test OpenID Connect provider (apt install nodejs npm)"
        )
    cache = CACHE
    try:
        cache.mkdir(parents=True, exist_ok=True)
        if not os.access(cache, os.W_OK):
            raise PermissionError(cache)
    except PermissionError:  # not root: the user's own cache
        cache = Path.home() / ".cache" / "jegw-oidc"
        cache.mkdir(parents=True, exist_ok=True)
    target = cache / _lock_hash()
    done = target / "node_modules" / "oidc-provider" / "package.json"
    if done.exists():
        return target / "node_modules"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be installing the same lock file
        if done.exists():
            return target / "node_modules"
        build = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
        build.chmod(0o755)  # public packages; mkdtemp made it 0700
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(HERE / name, build / name)
            argv = [
                npm,
                "ci",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--fetch-retries=1",
                "--fetch-timeout=30000",
            ]
            try:
                r = subprocess.run(argv, cwd=build, capture_output=True, text=True, timeout=NPM_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise ProviderUnavailable(
                    f"`npm ci` for the test OpenID Connect provider took over {NPM_TIMEOUT} s (is the npm registry reachable?)"
                ) from None
            if r.returncode != 0:
                lines = (r.stderr or r.stdout).strip().splitlines()
                said = [ln for ln in lines if any(k in ln for k in ("code E", "request to", "network", "404"))]
                tail = " | ".join((said or lines[-3:])[:3])
                raise ProviderUnavailable(
                    f"`npm ci` for the test OpenID Connect provider failed (exit {r.returncode}; "
                    f"is the npm registry reachable?): {tail}"
                )
            if target.exists():
                shutil.rmtree(target)
            build.rename(target)
        finally:
            if build.exists():
                shutil.rmtree(build, ignore_errors=True)
    return target / "node_modules"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OidcProvider:
    """The provider as a context manager: started on a free loopback port, stopped (and its temp dir
    removed) on exit. `issuer` is its URL; `log()` what it printed (logins, never passwords)."""

    def __init__(
        self,
        clients: list[dict],
        users: dict[str, dict],
        port: int | None = None,
        client_auth_methods: list[str] | None = None,
        tls: tuple[str, str] | None = None,
    ):
        """clients: {"client_id", "client_secret", "redirect_uris", optional "token_endpoint_auth_method"}; users:
        {name: {"password", "groups"}}; client_auth_methods: what the token endpoint takes (default: the package's);
        tls: (cert file, key file) to serve https (the certificate must name 127.0.0.1)."""
        self.client_auth_methods = client_auth_methods
        self.clients = [dict(c) for c in clients]
        self.users = {name: dict(u) for name, u in users.items()}
        self._fixed_port = port is not None
        self.tls = tls
        self._use_port(port or free_port())
        self._proc: subprocess.Popen | None = None
        self._dir: Path | None = None

    def _use_port(self, port: int) -> None:
        self.port = port
        self.issuer = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    def start(self) -> OidcProvider:
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                return self._start()
            except _NotServing as e:
                if self._fixed_port or attempt == START_ATTEMPTS:
                    raise RuntimeError(str(e)) from None
                print(f"oidc_provider: {e}; starting it again on another port")
                self._use_port(free_port())
        raise AssertionError("unreachable")

    def _start(self) -> OidcProvider:
        modules = node_modules()
        self._dir = Path(tempfile.mkdtemp(prefix="jegw-oidc-"))  # 0700
        shutil.copy2(HERE / "provider.mjs", self._dir / "provider.mjs")
        (self._dir / "node_modules").symlink_to(modules)  # ESM resolves 'oidc-provider' beside the script
        config = self._dir / "config.json"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(
                {
                    "issuer": self.issuer,
                    "host": "127.0.0.1",
                    "port": self.port,
                    "clients": self.clients,
                    "users": self.users,
                    "client_auth_methods": self.client_auth_methods,
                    "tls": {"cert_file": str(self.tls[0]), "key_file": str(self.tls[1])} if self.tls else None,
                },
                f,
            )
        self._log = open(self._dir / "provider.log", "w+")
        self._proc = subprocess.Popen(
            [shutil.which("node") or "node", str(self._dir / "provider.mjs"), str(config)],
            cwd=self._dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NODE_ENV": "test"},
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import httpx

        url = self.issuer + "/.well-known/openid-configuration"
        deadline = time.monotonic() + START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"the test OpenID Connect provider exited ({self._proc.returncode}): {self.log()[-800:]}"
                )
            try:
                r = httpx.get(url, timeout=2, verify=False)  # only: is it up (the tests check its certificate)
                if r.status_code == 200 and r.json().get("issuer") == self.issuer:
                    return
                last = f"HTTP {r.status_code}"
            except (httpx.HTTPError, ValueError) as e:
                last = type(e).__name__
            time.sleep(0.1)
        log = self.log()
        self.stop()
        raise _NotServing(
            f"the test OpenID Connect provider did not serve {url} within {START_TIMEOUT} s ({last}): {log[-800:]}"
        )

    def log(self) -> str:
        try:
            return (self._dir / "provider.log").read_text()
        except (OSError, TypeError):
            return ""

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Forms(html.parser.HTMLParser):
    """The page's forms: action, method, and its inputs (name -> (type, value))."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.alerts: list[str] = []
        self._alert = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(), "inputs": {}}
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["inputs"][a["name"]] = ((a.get("type") or "text").lower(), a.get("value") or "")
        elif a.get("role") == "alert":
            self._alert = True

    def handle_data(self, data):
        if self._alert and data.strip():
            self.alerts.append(data.strip())
            self._alert = False


def authorize_code(
    provider: OidcProvider | str,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: str,
    scope: str = "openid profile groups",
    extra_params: dict | None = None,
    ca_file: str = "",
) -> str:
    """Signs in through the provider's real login form (and consent page) with httpx, the way a browser
    would, and returns the authorization code it redirects to redirect_uri with. Raises LoginFailed when
    the login is refused or the provider redirects back with an error. ca_file: the CA of an https provider."""
    import httpx

    issuer = provider if isinstance(provider, str) else provider.issuer
    import ssl

    verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
    with httpx.Client(timeout=10, follow_redirects=False, verify=verify) as http:
        meta = http.get(issuer.rstrip("/") + "/.well-known/openid-configuration").raise_for_status().json()
        state = secrets.token_urlsafe(12)
        params = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state,
            "nonce": secrets.token_urlsafe(12),
            **(extra_params or {}),
        }
        r = http.get(meta["authorization_endpoint"], params=params)
        for _ in range(20):
            if r.is_redirect:
                location = urllib.parse.urljoin(str(r.url), r.headers["location"])
                if location.split("?")[0] == redirect_uri:
                    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
                    if "error" in query:
                        raise LoginFailed(
                            f"the provider redirected with {query['error']}: {query.get('error_description', '')}"
                        )
                    if query.get("state") != state:
                        raise LoginFailed("the provider's redirect lost the state parameter")
                    return query["code"]
                r = http.get(location)
                continue
            if r.status_code != 200:
                raise LoginFailed(f"HTTP {r.status_code} from {r.url}: {r.text[:300]}")
            page = _Forms()
            page.feed(r.text)
            posts = [f for f in page.forms if f["method"] == "post"]
            if not posts:
                raise LoginFailed(f"no form on {r.url}: {r.text[:300]}")
            form = posts[0]
            data = {name: value for name, (_, value) in form["inputs"].items()}
            if any(kind == "password" for kind, _ in form["inputs"].values()):
                if page.alerts:  # the login form again, with its error
                    raise LoginFailed(f"login refused for {username!r}: {page.alerts[0]}")
                for name, (kind, _) in form["inputs"].items():
                    data[name] = password if kind == "password" else username
            r = http.post(urllib.parse.urljoin(str(r.url), form["action"]), data=data)
        raise LoginFailed(f"no redirect to {redirect_uri} after 20 steps (last: {r.url})")
