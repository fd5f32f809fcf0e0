"""The live LDAP check: before a hub switches to LDAP sign-in (and in the doctor), walk the path a login
takes, hop by hop, against the real server, and stop at the first hop that fails with what to fix.

It does what the hub's authenticator (jupyterhub-ldapauthenticator 2.0, templates/auth_ldap.py.j2) will
do, with the same library (ldap3) and the same choices: the certificate verified against ldap.ca_file or
the system store with ldap3's own host name match, the user found by the service account (or the DN
formed from the templates), bound with their password, and the groups searched over the user's own
connection. A password never appears in a detail, a log or an argv.

ldap3 is imported inside the functions: the CLI starts without it.
"""

from __future__ import annotations

import math
import pwd
import re
import socket
import ssl
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

# The hub's login-name rules (auth_ldap.py.j2 sets the first; the second is ldapauthenticator's default)
LOCAL_NAME = r"^[a-z_][a-z0-9_-]{0,31}$"  # local_accounts = create: adduser makes the account
LOGIN_NAME = r"^[a-z][.a-z0-9_-]*$"  # local_accounts = nss
# ldapauthenticator 2.0's default group_search_filter: groupOfNames, groupOfUniqueNames, posixGroup
GROUP_FILTER = "(|(member={userdn})(uniqueMember={userdn})(memberUid={uid}))"
DEFAULT_PORTS = {"ldap": 389, "ldaps": 636}


@dataclass(frozen=True)
class Hop:
    name: str  # "connect", "tls", "service bind", "user lookup", "user bind", "groups", "local account"
    ok: bool
    detail: str  # one line for an operator; a failure names what failed and the answers key to fix


class _Stop(Exception):
    """A hop failed: its detail."""


def check(cfg, *, service_password: str | None, test_password: str | None, timeout: float | None = None) -> list[Hop]:
    """Every hop of a login as the test user, in order, up to and including the first that fails.
    timeout: seconds for each network step (None: cfg.timeout, else 5)."""
    return _Walk(cfg, service_password, test_password, timeout).run(full=True)


def reachable(cfg, *, service_password: str | None, timeout: float | None = None) -> list[Hop]:
    """The doctor's check, without user credentials: connect, tls, and the service bind (when there is a
    service account)."""
    return _Walk(cfg, service_password, None, timeout).run(full=False)


def endpoint(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an ldap:// or ldaps:// URL; ValueError naming what is wrong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"must start with ldap:// or ldaps://, got {url!r}")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise ValueError(f"not a port number in {url!r}") from None
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"only ldap[s]://host[:port] is allowed, got {url!r}")
    return scheme, parts.hostname, port


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Walk:
    def __init__(self, cfg, service_password, test_password, timeout):
        self.cfg = cfg
        self.service_password = service_password
        self.test_password = test_password
        self.timeout = float(timeout if timeout is not None else (getattr(cfg, "timeout", None) or 5.0))
        self.hops: list[Hop] = []
        self._conns = []

    def run(self, full: bool) -> list[Hop]:
        # ldap3 2.9 uses APIs its dependencies deprecated (pyasn1's tagMap, ssl.match_hostname): not the operator's news
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ldap3\.")
        cfg = self.cfg
        steps = [("connect", self.connect), ("tls", self.tls)]
        if cfg.service_dn:
            steps.append(("service bind", self.service_bind))
        if full:
            steps += [("user lookup", self.user_lookup), ("user bind", self.user_bind)]
            if list(cfg.allowed_groups) or list(cfg.admin_groups):
                steps.append(("groups", self.groups))
            steps.append(("local account", self.local_account))
        try:
            for name, step in steps:
                try:
                    detail = step()
                except _Stop as e:
                    self.hops.append(Hop(name, False, self._clean(str(e))))
                    break
                except Exception as e:  # the check reports; it never takes the caller down
                    self.hops.append(Hop(name, False, self._clean(f"unexpected {type(e).__name__}: {_reason(e)}")))
                    break
                self.hops.append(Hop(name, True, self._clean(detail)))
        finally:
            for conn in self._conns:
                _close(conn)
        return self.hops

    def _clean(self, detail: str) -> str:
        """One line, and never a password (a safety net: no detail is built from one)."""
        for secret in (self.service_password, self.test_password):
            if secret and secret.strip():
                detail = detail.replace(secret, "***")
        return " ".join(detail.split())

    # -- the hops

    def connect(self) -> str:
        try:
            self.scheme, self.host, self.port = endpoint(self.cfg.url)
        except ValueError as e:
            raise _Stop(f"ldap.url: {e}") from None
        where = _where(self.host, self.port)
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout):
                pass
        except socket.gaierror as e:
            raise _Stop(f"{self.host}: the name does not resolve ({e.strerror}) (ldap.url)") from None
        except TimeoutError:
            raise _Stop(
                f"{where}: no answer within {self.timeout:g} s (a firewall, or a wrong host) (ldap.url)"
            ) from None
        except OSError as e:
            raise _Stop(f"{where}: {e.strerror or e} (ldap.url)") from None
        return f"{where} accepts connections"

    def tls(self) -> str:
        cfg, where = self.cfg, _where(self.host, self.port)
        self.encrypted = self.scheme == "ldaps" or bool(cfg.start_tls)
        if cfg.ca_file and self.encrypted:
            try:
                with open(cfg.ca_file, "rb"):
                    pass
            except OSError as e:
                raise _Stop(f"ldap.ca_file: cannot read {cfg.ca_file}: {e.strerror}") from None
        # the connection the service account binds on (or a probe when there is none)
        conn = self.open(cfg.service_dn or None, self.service_password if cfg.service_dn else None)
        self.service_conn = conn
        if not self.encrypted:
            return (
                f"{where}: not encrypted: passwords cross the network in clear (ldap.url ldaps://, or ldap.start_tls)"
            )
        how = "LDAPS" if self.scheme == "ldaps" else "StartTLS"
        trust = cfg.ca_file or "the system trust store"
        version = conn.socket.version() if hasattr(conn.socket, "version") else "TLS"
        return f"{how} to {where}: {version}, certificate verified against {trust} for {self.host}"

    def service_bind(self) -> str:
        cfg = self.cfg
        if not self.service_password:
            raise _Stop("no password for the service account (ldap.service_password_file)")
        ok, result = _bind(self.service_conn, self.timeout)
        if not ok:
            if result == "invalidCredentials":
                raise _Stop(f"ldap.service_dn / ldap.service_password_file: invalid credentials for {cfg.service_dn}")
            raise _Stop(f"bind as {cfg.service_dn} failed: {result} (ldap.service_dn)")
        return f"bound as {cfg.service_dn}"

    def user_lookup(self) -> str:
        cfg = self.cfg
        user = cfg.test_user
        if not user:
            raise _Stop("no test user to sign in as (ldap.test_user)")
        if cfg.service_dn:
            return self._search_user(user)
        from ldap3.utils.dn import escape_rdn

        if not cfg.bind_dn_templates:
            raise _Stop("neither a service account (ldap.service_dn) nor ldap.bind_dn_templates")
        self.user_dns = []
        for t in cfg.bind_dn_templates:
            if "{username}" not in t:
                raise _Stop(f"ldap.bind_dn_templates: {t!r} has no {{username}}")
            try:
                self.user_dns.append(t.format(username=escape_rdn(user)))
            except (KeyError, IndexError, ValueError):
                raise _Stop(f"ldap.bind_dn_templates: {t!r}: only {{username}} may stand in braces") from None
        self.uid = user
        return f"{user} binds as {' or '.join(self.user_dns)} (ldap.bind_dn_templates)"

    def _search_user(self, user: str) -> str:
        from ldap3 import SUBTREE
        from ldap3.utils.conv import escape_filter_chars

        cfg, attr = self.cfg, self.cfg.user_attribute or "uid"
        base = cfg.user_search_base
        if not base:
            raise _Stop("ldap.user_search_base is empty: where the service account looks the users up")
        flt = f"({attr}={escape_filter_chars(user)})"
        conn = self.service_conn
        try:
            conn.search(base, flt, search_scope=SUBTREE, attributes=[attr], time_limit=int(self.timeout) or 1)
        except Exception as e:  # ldap3's errors have no common base worth naming here
            raise _Stop(f"searching {base} for {flt} failed: {_reason(e)}") from None
        result = conn.result.get("description", "")
        if result == "noSuchObject":
            raise _Stop(f"ldap.user_search_base: {base} does not exist (or {cfg.service_dn} may not see it)")
        if result not in ("success", "sizeLimitExceeded"):
            raise _Stop(f"searching {base} for {flt} failed: {result} (ldap.user_search_base / ldap.service_dn)")
        entries = conn.entries
        if not entries:
            raise _Stop(
                f"no entry {flt} under {base}: ldap.test_user is not in the directory, or ldap.user_attribute / "
                f"ldap.user_search_base are wrong (or {cfg.service_dn} may not read the users)"
            )
        if len(entries) > 1:
            raise _Stop(
                f"{len(entries)} entries match {flt} under {base}; the hub needs exactly one (ldap.user_attribute)"
            )
        entry = entries[0]
        values = next((v for k, v in entry.entry_attributes_as_dict.items() if k.lower() == attr.lower()), None)
        if not values or len(values) != 1:
            n = len(values or [])
            raise _Stop(f"{entry.entry_dn} has {n} values of {attr}; the hub needs exactly one (ldap.user_attribute)")
        self.user_dns = [entry.entry_dn]
        self.uid = str(values[0])
        return f"{flt} found: {entry.entry_dn}"

    def user_bind(self) -> str:
        cfg, user = self.cfg, self.cfg.test_user
        if self.test_password is None or not self.test_password.strip():
            # an LDAP bind with an empty password is anonymous and "succeeds"; the hub refuses blank ones
            raise _Stop("no password for the test user (ldap.test_password_file)")
        failures = []
        for dn in self.user_dns:
            conn = self.open(dn, self.test_password)
            ok, result = _bind(conn, self.timeout)
            if ok:
                self.user_conn, self.user_dn = conn, dn
                return f"{user} signed in as {dn}"
            failures.append((dn, result))
        if all(r == "invalidCredentials" for _, r in failures):
            dns = " / ".join(dn for dn, _ in failures)
            why = "wrong password" if cfg.service_dn else "wrong password, or no such entry"
            raise _Stop(f"ldap.test_user / ldap.test_password_file: invalid credentials for {dns} ({why})")
        dn, result = next((d, r) for d, r in failures if r != "invalidCredentials")
        raise _Stop(f"bind as {dn} failed: {result} (ldap.test_user)")

    def groups(self) -> str:
        from ldap3 import BASE
        from ldap3.utils.conv import escape_filter_chars

        cfg, user = self.cfg, self.cfg.test_user
        allowed, admin = list(cfg.allowed_groups), list(cfg.admin_groups)
        conn = self.user_conn
        flt = GROUP_FILTER.format(userdn=escape_filter_chars(self.user_dn), uid=escape_filter_chars(self.uid))
        member, unseen = set(), []
        for group in dict.fromkeys(allowed + admin):
            try:
                if conn.search(group, flt, search_scope=BASE, attributes=["1.1"]):
                    member.add(group)
                    continue
                # not a member, or the group is not there for this user: the hub cannot tell, the operator can
                if not conn.search(group, "(objectClass=*)", search_scope=BASE, attributes=["1.1"]):
                    unseen.append(group)
            except Exception as e:
                raise _Stop(f"searching group {group} as {user} failed: {_reason(e)}") from None
        note = f"; not found or not readable by {user}: {', '.join(unseen)}" if unseen else ""
        admin_in = [g for g in admin if g in member]
        if allowed and not member:
            # admin groups let their members in too (auth_ldap.py.j2 adds them to the allowed groups)
            names = ", ".join(dict.fromkeys(allowed + admin))
            raise _Stop(
                f"{user} is in none of ldap.allowed_groups / ldap.admin_groups ({names}): the hub would refuse "
                f"the test user{note}"
            )
        said = f"{user} is in {', '.join(g for g in dict.fromkeys(allowed + admin) if g in member)}" if member else ""
        if not allowed:
            said = f"any directory user may sign in{'; ' + said if said else ''}"
        if admin:
            said += "; an admin of the hub" if admin_in else "; not an admin (ldap.admin_groups)"
        return said + note

    def local_account(self) -> str:
        cfg, user = self.cfg, self.cfg.test_user
        name = user.lower()  # JupyterHub's normalize_username
        if cfg.local_accounts == "create":
            if not re.match(LOCAL_NAME, user):
                raise _Stop(
                    f"{user!r} is not valid for a local account (it must match {LOCAL_NAME}); the hub would "
                    f"refuse them (ldap.test_user, or ldap.local_accounts = nss with the accounts from the directory)"
                )
            try:
                existing = pwd.getpwnam(name)
            except KeyError:
                return f"{name}: no local account yet; the hub creates it at the first sign-in"
            return f"{name}: already a local account (uid {existing.pw_uid}); the hub's servers run as it"
        if cfg.local_accounts == "nss":
            if not re.match(LOGIN_NAME, user):
                raise _Stop(f"{user!r}: the hub refuses login names outside {LOGIN_NAME} (ldap.test_user)")
            try:
                found = pwd.getpwnam(name)
            except KeyError:
                raise _Stop(
                    f"ldap.local_accounts = nss but {name} has no account in the name service (getent passwd)"
                ) from None
            return f"{name}: uid {found.pw_uid} in the name service"
        raise _Stop(f"ldap.local_accounts must be create or nss, got {cfg.local_accounts!r}")

    # -- connections

    def open(self, user: str | None, password: str | None):
        """An open connection, TLS up as configured, not yet bound; _Stop naming the problem otherwise."""
        import ldap3

        cfg, where = self.cfg, _where(self.host, self.port)
        tls = _tls_class()(cfg.ca_file or None) if self.encrypted else None
        server = ldap3.Server(
            self.host,
            port=self.port,
            use_ssl=self.scheme == "ldaps",
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=self.timeout,
        )
        conn = ldap3.Connection(
            server,
            user=user,
            password=password,
            authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS,
            receive_timeout=max(1, math.ceil(self.timeout)),  # ldap3 packs it into SO_RCVTIMEO as an int
            auto_referrals=False,
            raise_exceptions=False,
        )
        self._conns.append(conn)
        try:
            conn.open(read_server_info=False)
            if self.scheme == "ldap" and cfg.start_tls and not conn.start_tls(read_server_info=False):
                raise _Stop(f"{where}: StartTLS failed: {conn.result.get('description')} (ldap.start_tls)")
        except _Stop:
            raise
        except Exception as e:
            raise _Stop(_tls_problem(e, tls, cfg, self.scheme, self.host, where, self.timeout)) from None
        return conn


def _bind(conn, timeout: float) -> tuple[bool, str]:
    """(bound, the server's result name, or what went wrong on the way)."""
    try:
        ok = conn.bind(read_server_info=False)
    except Exception as e:
        reason = _reason(e)
        return False, f"no answer within {timeout:g} s" if "timed out" in reason.lower() else reason
    return bool(ok), (conn.result or {}).get("description", "") or "no answer"


def _close(conn) -> None:
    try:
        conn.unbind()
    except Exception:  # a connection that never opened, or a socket the TLS handshake left closed
        pass


def _reason(e: BaseException) -> str:
    """One line from an ldap3 exception (its args nest tuples of strings)."""
    while e.args and isinstance(e.args[0], (tuple, BaseException)) and e.args[0]:
        inner = e.args[0]
        e = inner if isinstance(inner, BaseException) else Exception(*inner)
    text = str(e.args[0]) if e.args else type(e).__name__
    return text or type(e).__name__


def _tls_problem(e: BaseException, tls, cfg, scheme: str, host: str, where: str, timeout: float) -> str:
    """What an operator fixes when opening the connection failed: the certificate, the port, or the TLS."""
    cause = getattr(tls, "error", None)
    trust = cfg.ca_file or "the system trust store"
    if isinstance(cause, ssl.SSLCertVerificationError):
        msg = cause.verify_message or cause.reason or str(cause)
        if "mismatch" in msg.lower():
            return f"{where}: certificate verify failed: {msg} (ldap.url: use a name the certificate holds)"
        return f"{where}: certificate verify failed: {msg}; checked against {trust} (ldap.ca_file)"
    if cause is not None and type(cause).__name__.endswith("CertificateError"):
        # ldap3's own match (its message holds the whole certificate); from Python 3.12 it takes DNS names only
        return (
            f"{where}: ldap3 (the hub's LDAP library) does not match the certificate to {host} "
            f"(ldap.url: use a DNS name the certificate holds)"
        )
    if isinstance(cause, TimeoutError) or "timed out" in str(cause or ""):
        return f"{where}: no TLS handshake within {timeout:g} s (ldap.url: is it an {scheme.upper()} port?)"
    if isinstance(cause, ssl.SSLError):
        hint = "is it an LDAPS port? (ldap.url)" if scheme == "ldaps" else "(ldap.start_tls)"
        return f"{where}: TLS handshake failed: {cause.reason or cause} {hint}"
    if isinstance(cause, OSError):
        return f"{where}: TLS handshake failed: {cause.strerror or cause} (ldap.url)"
    text = _reason(e)
    if "timed out" in text.lower():
        return f"{where}: no LDAP answer within {timeout:g} s (ldap.url: is it an {scheme.upper()} port?)"
    return f"{where}: {text} (ldap.url: is it an {scheme.upper()} port?)"


_TLS = None


def _tls_class():
    """ldap3's Tls, wrapping the socket as the hub's will (the CA file or the system store, certificate
    required, ldap3's own host name match) but with the handshake done at once, Python's host name check
    on top, and the real ssl error kept for the detail (ldap3 flattens it into a string)."""
    global _TLS
    if _TLS is None:
        from ldap3 import Tls
        from ldap3.core.tls import check_hostname

        class _Tls(Tls):
            def __init__(self, ca_file):
                super().__init__(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file)
                self.error = None

            def wrap_socket(self, connection, do_handshake=False):
                host = connection.server.host
                try:
                    ctx = ssl.create_default_context(cafile=self.ca_certs_file)
                    sock = ctx.wrap_socket(connection.socket, server_hostname=host)
                    check_hostname(sock, host, None)
                except Exception as e:
                    self.error = e
                    raise
                connection.socket = sock

        _TLS = _Tls
    return _TLS
