"""A private, real OpenLDAP server for tests: Debian's slapd (packages `slapd` and `ldap-utils`) on free
loopback ports, its own CA and data in a temp dir; never /etc/ldap/slapd.d or the system instance (only
the schema files the slapd package ships are read).

    with LdapServer(users={"alice": "pw"}, groups={"staff": ["alice"]}) as srv:
        srv.url, srv.ldaps_url, srv.ca_file, srv.user_dn("alice"), srv.group_dn("staff")

ACLs as a careful directory has them: anonymous may only bind; the service account (cn=reader) reads
everything but password hashes; a user reads their own entry and, once bound, the groups (the hub's
authenticator checks membership over the user's own connection).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from jeg_wizard import tls

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")  # read-only: shipped by the slapd package
MODULE_DIR = Path("/usr/lib/ldap")  # Debian builds back_mdb as a module
SCHEMAS = ("core", "cosine", "nis", "inetorgperson")
READY_TIMEOUT = 10.0


def ssha(password: str, salt: bytes | None = None) -> str:
    """An RFC 2307 {SSHA} userPassword value (what slappasswd makes by default)."""
    salt = os.urandom(8) if salt is None else salt
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca(directory: Path, name: str = "jeg-wizard test LDAP CA") -> tuple[Path, bytes, bytes]:
    """A self-signed CA, the wizard's own kind (jeg_wizard.tls): (cert PEM path, key PEM, cert PEM)."""
    cert, key = tls.new_ca(name)
    path = directory / f"{name.replace(' ', '-')}.pem"
    path.write_bytes(cert)
    return path, key, cert


def make_server_cert(
    directory: Path, ca_key: bytes, ca_cert: bytes, hosts=("127.0.0.1", "localhost")
) -> tuple[Path, Path]:
    """A server certificate for `hosts` (IP addresses and DNS names in the SAN), signed by the CA: (cert, key)."""
    cert, key = tls.new_server_cert(ca_cert, ca_key, list(hosts))
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert)
    key_path.write_bytes(key)
    key_path.chmod(0o600)
    return cert_path, key_path


class LdapServer:
    """slapd with mdb, suffix dc=example,dc=org, seeded before it starts; ldap:// (StartTLS offered) on
    one loopback port and ldaps:// on another. stop() and start() keep the data, the ports and the CA."""

    base = "dc=example,dc=org"
    people_base = "ou=people,dc=example,dc=org"
    groups_base = "ou=groups,dc=example,dc=org"
    service_dn = "cn=reader,dc=example,dc=org"

    def __init__(
        self,
        users: dict[str, str] | None = None,
        groups: dict[str, list[str]] | None = None,
        *,
        unique_groups: dict[str, list[str]] | None = None,
        posix_groups: dict[str, list[str]] | None = None,
        service_password: str = "reader-Secret-42",
        cert_hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
        host: str = "127.0.0.1",
    ):
        """users: name -> password (posixAccount + inetOrgPerson under ou=people); groups: groupOfNames
        (member = user DN), unique_groups: groupOfUniqueNames (uniqueMember), posix_groups: posixGroup
        (memberUid), each name -> member names, all under ou=groups. host: the name in url and ldaps_url
        (slapd listens on 127.0.0.1 either way); "localhost" where the client's ldap3 cannot match an IP
        address to a certificate (Python >= 3.12 has no ssl.match_hostname, and ldap3's fallback takes
        DNS names only)."""
        self.users = dict(users or {})
        self.groups = dict(groups or {})
        self.unique_groups = dict(unique_groups or {})
        self.posix_groups = dict(posix_groups or {})
        self.service_password = service_password
        self.cert_hosts = cert_hosts
        self.host = host
        for kind in (self.groups, self.unique_groups, self.posix_groups):
            for g, members in kind.items():
                unknown = set(members) - set(self.users)
                if unknown:
                    raise ValueError(f"group {g}: not among the users: {sorted(unknown)}")
        names = [*self.groups, *self.unique_groups, *self.posix_groups]
        if len(set(names)) != len(names):
            raise ValueError(f"a group name is used twice: {sorted(names)}")
        self.port = self.ldaps_port = 0
        self.dir: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._log = None

    # -- what a test reads

    @property
    def url(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.host}:{self.ldaps_port}"

    @property
    def log_file(self) -> Path:
        return self.dir / "slapd.log"

    def user_dn(self, name: str) -> str:
        return f"uid={name},{self.people_base}"

    def group_dn(self, name: str) -> str:
        return f"cn={name},{self.groups_base}"

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    # -- life cycle

    def __enter__(self) -> LdapServer:
        try:
            self.setup()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def setup(self) -> None:
        """The temp dir, the CA and server cert, slapd.conf, and the data (slapadd); once."""
        if self.dir is not None:
            return
        self.dir = Path(tempfile.mkdtemp(prefix="jegw-slapd-"))
        self.port, self.ldaps_port = free_port(), free_port()
        while self.ldaps_port == self.port:
            self.ldaps_port = free_port()
        self.ca_file, ca_key, ca_cert = make_ca(self.dir)
        # a second, unrelated CA: what a wrong ldap.ca_file looks like
        self.wrong_ca_file, _, _ = make_ca(self.dir, "some other CA")
        self.cert_file, self.key_file = make_server_cert(self.dir, ca_key, ca_cert, self.cert_hosts)
        (self.dir / "db").mkdir()
        self.conf = self.dir / "slapd.conf"
        self.conf.write_text(self._conf())
        ldif = self.dir / "seed.ldif"
        ldif.write_text(self._ldif())
        out = subprocess.run(
            [SLAPADD, "-q", "-f", str(self.conf), "-l", str(ldif)], capture_output=True, text=True, timeout=30
        )
        if out.returncode != 0:
            raise RuntimeError(f"slapadd failed ({out.returncode}):\n{out.stdout}{out.stderr}")

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self.setup()
        self._log = open(self.log_file, "ab")  # noqa: SIM115 (closed in stop)
        listen = f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.ldaps_port}/"
        # -d keeps slapd in the foreground (a child we can kill); its log goes to slapd.log
        self._proc = subprocess.Popen(
            [SLAPD, "-f", str(self.conf), "-h", listen, "-d", "0"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._close_log()
                self._proc = None
                raise RuntimeError(f"slapd exited ({code}) before listening; its log:\n{self.log_text()}")
            if all(_listening(p) for p in (self.port, self.ldaps_port)):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"slapd not listening on {self.port}/{self.ldaps_port} within {READY_TIMEOUT:.0f} s; "
                    f"its log:\n{self.log_text()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._close_log()

    def close(self) -> None:
        self.stop()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- the files

    def _conf(self) -> str:
        d = self.dir
        includes = "\n".join(f"include {SCHEMA_DIR / s}.schema" for s in SCHEMAS)
        svc = self.service_dn
        return f"""{includes}
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath {MODULE_DIR}
moduleload back_mdb
loglevel none
TLSCACertificateFile {self.ca_file}
TLSCertificateFile {self.cert_file}
TLSCertificateKeyFile {self.key_file}

database mdb
maxsize 16777216
suffix "{self.base}"
directory {d}/db

access to attrs=userPassword
    by anonymous auth
    by * none
access to dn.subtree="{self.groups_base}"
    by dn.exact="{svc}" read
    by users read
    by * none
access to *
    by dn.exact="{svc}" read
    by self read
    by anonymous auth
    by * none
"""

    def _ldif(self) -> str:
        entries = [
            [f"dn: {self.base}", "objectClass: dcObject", "objectClass: organization", "dc: example", "o: Example"],
            [f"dn: {self.people_base}", "objectClass: organizationalUnit", "ou: people"],
            [f"dn: {self.groups_base}", "objectClass: organizationalUnit", "ou: groups"],
            [
                f"dn: {self.service_dn}",
                "objectClass: organizationalRole",
                "objectClass: simpleSecurityObject",
                "cn: reader",
                f"userPassword: {ssha(self.service_password)}",
            ],
        ]
        for i, (name, password) in enumerate(sorted(self.users.items())):
            entries.append(
                [
                    f"dn: {self.user_dn(name)}",
                    "objectClass: inetOrgPerson",
                    "objectClass: posixAccount",
                    f"uid: {name}",
                    f"cn: {name}",
                    f"sn: {name}",
                    f"uidNumber: {20001 + i}",
                    "gidNumber: 20000",
                    f"homeDirectory: /home/{name}",
                    f"userPassword: {ssha(password)}",
                ]
            )
        for name, members in sorted(self.groups.items()):
            # groupOfNames must have a member: an empty group holds the empty DN (no one)
            values = [f"member: {self.user_dn(m)}" for m in members] or ["member:"]
            entries.append([f"dn: {self.group_dn(name)}", "objectClass: groupOfNames", f"cn: {name}", *values])
        for name, members in sorted(self.unique_groups.items()):
            values = [f"uniqueMember: {self.user_dn(m)}" for m in members] or ["uniqueMember:"]
            entries.append([f"dn: {self.group_dn(name)}", "objectClass: groupOfUniqueNames", f"cn: {name}", *values])
        for i, (name, members) in enumerate(sorted(self.posix_groups.items())):
            values = [f"memberUid: {m}" for m in members]
            entries.append(
                [f"dn: {self.group_dn(name)}", "objectClass: posixGroup", f"cn: {name}", f"gidNumber: {30001 + i}"]
                + values
            )
        return "\n\n".join("\n".join(e) for e in entries) + "\n"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
