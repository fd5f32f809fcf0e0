"""Where each secret comes from, and the promise that it is masked everywhere once known."""

from __future__ import annotations

import getpass
import os
import secrets as _random
import stat
from pathlib import Path

from .layout import Layout
from .redact import Redactor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .answers import Answers


class SecretError(Exception):
    pass


SECRET_MAX = 1 << 20  # a password, token or key: far less; more is a mistake (or a device)


def read_private_file(path: Path, what: str) -> str:
    """A secret file must be ours alone: refuse group/world-readable ones with the fix. A regular
    file of sane size only: a FIFO or device is refused without blocking on it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SecretError(f"{what}: {path} is not a regular file (a directory, pipe, socket or device)")
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretError(
                f"{what}: {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); run: chmod 600 {path}"
            )
        if st.st_size > SECRET_MAX:
            raise SecretError(f"{what}: {path} is too big for a secret ({st.st_size} bytes)")
        raw = os.read(fd, SECRET_MAX + 1)
    finally:
        os.close(fd)
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretError(f"{what}: {path} is not UTF-8 text") from None


def _url_userinfo(url: str) -> str:
    from urllib.parse import urlsplit

    netloc = urlsplit(url).netloc if url else ""
    return netloc.rsplit("@", 1)[0] if "@" in netloc else ""


def given_secret(cfg, section: str, name: str) -> str:
    """The secret `name` of an answers section from <name>_file (a 0600 file) or <name>_env (a variable)."""
    file, env = getattr(cfg, f"{name}_file"), getattr(cfg, f"{name}_env")
    if env:
        value = os.environ.get(env, "")
        if not value:
            raise SecretError(f"{section}.{name}_env: environment variable {env} is not set or empty")
        return value
    p = Path(file)
    if not p.exists():
        raise SecretError(f"{section}.{name}_file: no such file {p}")
    try:
        value = read_private_file(p, f"{section}.{name}_file")
    except OSError as e:
        raise SecretError(f"{section}.{name}_file: cannot read {p}: {e.strerror}") from None
    if not value:
        raise SecretError(f"{section}.{name}_file: {p} is empty")
    return value


class Secrets:
    def __init__(self, answers: Answers, layout: Layout, redactor: Redactor, interactive: bool = False):
        self.a, self.layout, self.redactor, self.interactive = answers, layout, redactor, interactive
        self._cache: dict[str, str | None] = {}
        userinfo = _url_userinfo(answers.spark.url)
        if userinfo:  # credentials in the Spark URL: masked in the plan, the log and every message
            redactor.add(f"{userinfo}@")

    def _token(self, key: str, path: Path, what: str, generate: bool = True) -> str | None:
        if key not in self._cache:
            value = read_private_file(path, what) if path.exists() else ""
            if not value and not generate:
                return None  # a check asks what is there: nothing, and nothing is made up
            self._cache[key] = value or _random.token_hex(32)  # generated: written by its step
        value = self._cache[key]
        self.redactor.add(value)
        return value

    def gateway_token(self, generate: bool = True) -> str | None:
        """generate=False: the token in its file, or None (the checks); OSError when it cannot be read."""
        return self._token("gateway", self.layout.gateway_token_file, "gateway.token_file", generate)

    def set_gateway_token(self, value: str) -> None:
        """The hub host: the token the gateway host handed over in its join file (written by the join step)."""
        self._cache["gateway"] = value
        self.redactor.add(value)

    def proxy_token(self, generate: bool = True) -> str | None:
        return self._token("proxy", self.layout.proxy_token_file, "proxy token", generate)

    def cookie_secret(self) -> str:
        return self._token("cookie", self.layout.cookie_secret_file, "hub cookie secret")

    def admin_password(self) -> str | None:
        """The admin's clear password if one was given (env, file or prompt); None: keep/hash."""
        if "admin" in self._cache:
            return self._cache["admin"]
        u = self.a.users
        value: str | None = None
        if u.admin_password_env:
            value = os.environ.get(u.admin_password_env)
            if not value:
                raise SecretError(
                    f"users.admin_password_env: environment variable {u.admin_password_env} is not set or empty"
                )
        elif u.admin_password_file:
            p = Path(u.admin_password_file)
            if not p.exists():
                raise SecretError(f"users.admin_password_file: no such file {p}")
            try:
                value = read_private_file(p, "users.admin_password_file")
            except OSError as e:
                raise SecretError(f"users.admin_password_file: cannot read {p}: {e.strerror}") from None
            if not value:
                raise SecretError(f"users.admin_password_file: {p} is empty")
        elif not u.admin_password_hash and self.interactive:
            value = self.prompt_admin_password()
        self._cache["admin"] = value
        self.redactor.add(value)
        return value

    def given(self, section: str, name: str) -> str:
        """A secret of [ldap] / [oidc] from its <name>_file (0600) or <name>_env; SecretError naming the key."""
        value = given_secret(getattr(self.a, section), section, name)
        self.redactor.add(value)
        return value

    def signin_secret(self) -> str:
        """What the hub reads at start: the LDAP service password or the OIDC client secret."""
        if self.a.hub.authenticator == "ldap":
            return self.given("ldap", "service_password")
        return self.given("oidc", "client_secret")

    def set_admin_password(self, value: str) -> None:
        """The TUI's masked field hands the password over here."""
        self._cache["admin"] = value
        self.redactor.add(value)

    def prompt_admin_password(self) -> str | None:
        while True:
            first = getpass.getpass(
                f"Password for the hub admin '{self.a.users.admin}' (empty: keep the current one): "
            )
            if not first:
                return None
            if getpass.getpass("Again: ") == first:
                return first
            print("The two entries differ; try again.")
