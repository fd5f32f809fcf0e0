"""`jeg-wizard backup` and `restore`: one archive with what a reinstall cannot make again.

What goes in: a consistent copy of the hub database (sqlite's online backup API: the hub keeps
running), the secrets (gateway token, proxy token, hub environment, cookie secret, TLS CA and keys),
the configs and kernelspecs we write, the hub user roster, the saved answers, the journal, and the
hub users' PAM accounts (their /etc/shadow hashes: the same passwords work after a restore),
optionally their homes. Each member is listed in manifest.json with its sha256 (the last member:
the hashes are known once the rest is written), with the wizard's version and the answers' digest.

The archive is a tar.gz, written 0600 to a temp file renamed into place. With a passphrase it is
sealed with AES-256-GCM (the `cryptography` package the TLS step already uses) in 1 MiB chunks,
the key derived with scrypt: each chunk's nonce carries its number and a last-chunk flag, so a
reordered, cut or altered archive fails to open (the STREAM construction).

A restore checks everything first (the seal, every member's hash, the manifest's format), then puts
the secrets, database, roster, accounts and homes in place and runs the normal install, which finds
them: the tokens are not made anew, the configs render with them, the services start once.
No textual here; argv lists only; no secret on a command line, a screen or in a log.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pwd
import shutil
import socket
import sqlite3
import stat
import struct
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import __version__, files
from .bundle import sha256_of
from .layout import Layout

FORMAT = "jeg-wizard-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SEAL_MAGIC = b"JEGW-BACKUP-AESGCM-1\n"
CHUNK = 1 << 20
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 15, 8, 1  # 32 MiB, ~0.1 s here: costly to guess, cheap to open
MANIFEST_MAX = 64 << 20

# what each kind of member is, in the order a restore puts them back
KINDS = ("secret", "tls", "db", "roster", "config", "kernelspec", "accounts", "home", "answers", "journal")


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class Place:
    key: str  # the member's name in the archive: the same on every machine (paths may differ)
    path: Path
    kind: str
    mode: int = 0o600
    owner: str = "root"


def places(L: Layout) -> list[Place]:
    """Every file of ours a backup takes, by its name in the archive. Kernelspecs: kernelspec_places."""
    out = [
        Place(
            f"secrets/{what.replace(' ', '-').lower()}",
            path,
            "tls" if "key" in what.lower() else "secret",
            0o600,
            owner,
        )
        for _, what, path, owner in L.secret_files
    ]
    if L.gateway_tls:  # the certificates that go with the keys above (world-readable)
        out += [
            Place("tls/ca.pem", L.gateway_ca_file, "tls", 0o644),
            Place("tls/gateway.pem", L.gateway_cert_file, "tls", 0o644),
        ]
    if L.runs("hub"):
        out += [
            Place("hub/jupyterhub.sqlite", L.hub_state_dir / "jupyterhub.sqlite", "db", 0o600),
            Place("config/jupyterhub_users.json", L.hub_users_file, "roster", 0o644),
            Place("config/jupyterhub_config.py", L.hub_config, "config", 0o644),
            Place("config/jupyter_server_config.py", L.config_dir / "jupyter_server_config.py", "config", 0o644),
            Place("config/lab-overrides.json", L.lab_overrides, "config", 0o644),
        ]
    if L.runs("gateway"):
        out.append(Place("config/jupyter_enterprise_gateway_config.py", L.gateway_config, "config", 0o644))
    out += [
        Place("state/answers.toml", L.state_dir / "answers.toml", "answers", 0o600),
        Place("state/journal.jsonl", L.state_dir / "journal.jsonl", "journal", 0o600),
    ]
    return out


def kernelspec_place(L: Layout, rel: str, mode: int = 0o644) -> Place:
    return Place(f"kernelspecs/{rel}", L.kernel_dir / rel, "kernelspec", mode)


def hub_users(L: Layout) -> dict[str, bool]:
    """name -> admin: the answers' admin and allowed users and the roster's (jeg_wizard.hub_users)."""
    from . import hub_users as roster_of

    r = roster_of.roster(L)
    names = {L.a.users.admin: True} | dict.fromkeys(L.a.users.allowed, False)
    names |= {n: n in r["admins"] for n in r["allowed"] if n not in names}
    return {n: admin for n, admin in names.items() if n not in set(r["removed"])}


# ------------------------------------------------------------------ the sealed stream


def _key(passphrase: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase.encode())


def _nonce(prefix: bytes, n: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", n, 1 if last else 0)


class SealWriter(io.RawIOBase):
    """A file-like sink that writes SEAL_MAGIC, salt, nonce prefix, then [len][AES-GCM(chunk)]..."""

    def __init__(self, out, passphrase: str):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        salt, self.prefix = os.urandom(16), os.urandom(7)
        self.header = SEAL_MAGIC + salt + self.prefix
        self.aead = AESGCM(_key(passphrase, salt))
        self.out, self.buf, self.n = out, bytearray(), 0
        out.write(self.header)

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.buf += b
        while len(self.buf) > CHUNK:  # keep one chunk back: the last one is sealed as the last
            self._emit(bytes(self.buf[:CHUNK]), last=False)
            del self.buf[:CHUNK]
        return len(b)

    def _emit(self, data: bytes, last: bool) -> None:
        sealed = self.aead.encrypt(_nonce(self.prefix, self.n, last), data, self.header)
        self.out.write(struct.pack(">I", len(sealed)) + sealed)
        self.n += 1

    def finish(self) -> None:
        self._emit(bytes(self.buf), last=True)
        self.buf.clear()


def unseal(src: Path, dest: Path, passphrase: str) -> None:
    """The plain archive into dest; BackupError when the passphrase is wrong or the file was changed."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    with open(src, "rb") as f, open(dest, "wb") as out:
        header = f.read(len(SEAL_MAGIC) + 16 + 7)
        if len(header) < len(SEAL_MAGIC) + 23:
            raise BackupError("damaged: the encrypted archive is cut short (no header)")
        salt, prefix = header[len(SEAL_MAGIC) : -7], header[-7:]
        aead, n = AESGCM(_key(passphrase, salt)), 0
        while True:
            size = f.read(4)
            if len(size) < 4:
                raise BackupError("damaged: the encrypted archive is cut short (its last chunk is missing)")
            sealed = f.read(struct.unpack(">I", size)[0])
            for last in (False, True):
                try:
                    data = aead.decrypt(_nonce(prefix, n, last), sealed, header)
                    break
                except InvalidTag:
                    continue
            else:
                what = "the passphrase is wrong, or the archive was changed" if n == 0 else "the archive was changed"
                raise BackupError(f"cannot decrypt chunk {n}: {what}")
            out.write(data)
            n += 1
            if last:
                if f.read(1):
                    raise BackupError("damaged: data after the encrypted archive's last chunk")
                return


def read_passphrase(file: str | None, env: str | None) -> str | None:
    """From a 0600 file or a variable, never argv; BackupError when named and missing or empty."""
    from .secrets import SecretError, read_private_file

    if file:
        try:
            value = read_private_file(Path(file), "--passphrase-file")
        except FileNotFoundError:
            raise BackupError(f"--passphrase-file: no such file {file}") from None
        except SecretError as e:
            raise BackupError(str(e)) from None
    elif env:
        value = os.environ.get(env, "")
        if not value:
            raise BackupError(f"--passphrase-env: environment variable {env} is not set or empty")
    else:
        return None
    if not value:
        raise BackupError(f"--passphrase-file: {file} is empty")
    return value


# ------------------------------------------------------------------ backup


def snapshot_db(db: Path, dest: Path) -> None:
    """A consistent copy while the hub writes (sqlite's backup API, page by page under its locks)."""
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        out = sqlite3.connect(dest)
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()


def _owner_name(st: os.stat_result) -> str:
    try:
        return pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        return "root"


def _home_tar(home: Path, dest: Path) -> None:
    """The home as an inner tar: regular files, directories and symlinks (no sockets, pipes, devices)."""

    def keep(ti: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return ti if (ti.isreg() or ti.isdir() or ti.issym()) else None

    with tarfile.open(dest, "w") as tf:
        tf.add(home, arcname=".", filter=keep)


@dataclass
class Made:
    path: Path
    size: int
    seconds: float
    members: int
    users: list[str]
    homes: list[str]
    skipped: list[str]


def make(L: Layout, output: Path, *, homes: bool = False, passphrase: str | None = None) -> Made:
    """Write the archive to output (0600, temp + rename). Reads root-only files: run as root."""
    t0 = time.monotonic()
    output = Path(output).absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="jegw-backup-"))  # 0700: the database copy and home tars
    members: dict[str, dict] = {}  # key -> path, kind, mode, owner, sha256, size
    items: list[tuple[str, Path]] = []
    skipped: list[str] = []

    def take(p: Place, src: Path | None = None) -> None:
        src = src or p.path
        st = p.path.stat()
        digest, size = sha256_of(src), src.stat().st_size
        members[p.key] = {
            "kind": p.kind,
            "path": str(p.path),
            "mode": stat.S_IMODE(st.st_mode),
            "owner": _owner_name(st),
            "sha256": digest,
            "size": size,
        }
        items.append((p.key, src))

    try:
        for p in places(L):
            if not p.path.is_file():
                skipped.append(f"{p.key} ({p.path} is not there)")
            elif p.kind == "db":
                snapshot_db(p.path, work / "hub.sqlite")
                take(p, work / "hub.sqlite")
            else:
                take(p)
        if L.runs("gateway") and L.kernel_dir.is_dir():
            for f in sorted(L.kernel_dir.rglob("*")):
                if f.is_file() and not f.is_symlink():
                    take(kernelspec_place(L, f.relative_to(L.kernel_dir).as_posix()))
        users, homes_taken = [], []
        if L.runs("hub"):
            from .hub_users import shadow

            hashes, accounts = shadow(), []
            for name, admin in hub_users(L).items():
                try:
                    pw = pwd.getpwnam(name)
                except KeyError:
                    skipped.append(f"account {name} (no such user here)")
                    continue
                accounts.append({"name": name, "admin": admin, "hash": hashes.get(name, ""), "home": pw.pw_dir})
                users.append(name)
                if homes and Path(pw.pw_dir).is_dir():
                    _home_tar(Path(pw.pw_dir), work / f"home-{name}.tar")
                    take(Place(f"homes/{name}.tar", Path(pw.pw_dir), "home"), work / f"home-{name}.tar")
                    homes_taken.append(name)
            files.atomic_write(work / "accounts.json", json.dumps({"users": accounts}, indent=1).encode(), 0o600)
            take(Place("accounts/accounts.json", work / "accounts.json", "accounts"))
        answers = members.get("state/answers.toml", {}).get("sha256", "")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "wizard_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": socket.gethostname(),
            "role": L.role,
            "answers_sha256": answers,
            "encrypted": passphrase is not None,
            "members": members,
        }
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")  # 0600 from the start
        try:
            with os.fdopen(fd, "wb") as raw:
                sink = SealWriter(raw, passphrase) if passphrase else raw
                with tarfile.open(fileobj=sink, mode="w|gz") as tf:
                    for key, src in items:
                        _add(tf, key, src)
                    _add(tf, MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
                if passphrase:
                    sink.finish()
                raw.flush()
                os.fsync(raw.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, output)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Made(output, output.stat().st_size, time.monotonic() - t0, len(members), users, homes_taken, skipped)


def _add(tf: tarfile.TarFile, name: str, data: bytes | Path) -> None:
    ti = tarfile.TarInfo(name)
    ti.mode, ti.mtime, ti.uname, ti.gname = 0o600, int(time.time()), "root", "root"
    if isinstance(data, Path):
        ti.size = data.stat().st_size
        with open(data, "rb") as f:
            tf.addfile(ti, f)
    else:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))


# ------------------------------------------------------------------ verify (before any change)


@dataclass
class Opened:
    manifest: dict
    dir: Path  # private temp dir: member blobs, removed by close()
    blobs: dict[str, Path]

    def member(self, kind: str) -> list[tuple[str, dict]]:
        return [(k, m) for k, m in sorted(self.manifest["members"].items()) if m["kind"] == kind]

    def read(self, key: str) -> bytes:
        return self.blobs[key].read_bytes()

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def open_archive(path: Path, passphrase: str | None) -> Opened:
    """Decrypted (if sealed), every member read and hashed, the manifest checked: BackupError naming the
    problem otherwise. Nothing outside a private temp dir is touched."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(SEAL_MAGIC))
    except OSError as e:
        raise BackupError(f"cannot read {path}: {e.strerror}") from None
    work = Path(tempfile.mkdtemp(prefix="jegw-restore-"))
    try:
        plain = path
        if head == SEAL_MAGIC:
            if passphrase is None:
                raise BackupError(f"{path} is encrypted: give --passphrase-file FILE or --passphrase-env VAR")
            plain = work / "archive.tar.gz"
            unseal(path, plain, passphrase)
        elif head[:2] != b"\x1f\x8b":
            raise BackupError(f"{path} is not a jeg-wizard backup (neither a tar.gz nor an encrypted archive of ours)")
        blobs, digests = _read_members(plain, work)
        if plain != path:
            plain.unlink()
        if MANIFEST not in blobs:
            raise BackupError(f"{path} is not a jeg-wizard backup: it has no {MANIFEST}")
        if blobs[MANIFEST].stat().st_size > MANIFEST_MAX:
            raise BackupError(f"{MANIFEST} is too big to be ours")
        try:
            manifest = json.loads(blobs.pop(MANIFEST).read_text())
        except ValueError as e:
            raise BackupError(f"damaged: {MANIFEST} is not valid JSON ({e})") from None
        check_manifest(manifest, {k: digests[k] for k in blobs})
        return Opened(manifest, work, blobs)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _read_members(plain: Path, work: Path) -> tuple[dict[str, Path], dict[str, tuple[str, int]]]:
    import zlib

    blobs, digests = {}, {}
    try:
        with tarfile.open(plain, "r:gz") as tf:
            for i, ti in enumerate(tf):
                if not ti.isreg():
                    raise BackupError(f"{ti.name}: not a regular file; a jeg-wizard backup holds files only")
                if ti.name in blobs:
                    raise BackupError(f"{ti.name}: twice in the archive")
                dest, h = work / f"m{i}", hashlib.sha256()
                src = tf.extractfile(ti)
                with open(dest, "wb") as out:
                    while chunk := src.read(CHUNK):
                        h.update(chunk)
                        out.write(chunk)
                blobs[ti.name], digests[ti.name] = dest, (h.hexdigest(), ti.size)
            # tar stops at its end marker: the rest of the gzip stream (the record's padding, the CRC) is
            # read too, or a damaged byte there goes unseen (seen: 1 flipped byte in ~50 passed)
            while tf.fileobj.read(CHUNK):
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:  # a real I/O error, not gzip's CRC/"not gzipped"
            raise
        raise BackupError(f"damaged: the archive cannot be read to its end ({e})") from None
    return blobs, digests


def check_manifest(manifest: dict, found: dict[str, tuple[str, int]]) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"not a jeg-wizard backup: its {MANIFEST} has no format {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"backup format {manifest.get('format_version')!r}: this jeg-wizard reads format {FORMAT_VERSION}"
        )
    members = manifest.get("members")
    if not isinstance(members, dict):
        raise BackupError(f"damaged: {MANIFEST} lists no members")
    problems = []
    for key, m in sorted(members.items()):
        if not isinstance(m, dict) or m.get("kind") not in KINDS or not _safe_key(key):
            problems.append(f"{key}: not a member a jeg-wizard backup has")
        elif key not in found:
            problems.append(f"{key}: missing from the archive")
        elif found[key] != (m.get("sha256"), m.get("size")):
            problems.append(f"{key}: damaged (sha256 or size differs from the manifest)")
    problems += [f"{key}: in the archive but not in the manifest" for key in sorted(set(found) - set(members))]
    if problems:
        raise BackupError("; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))


def _safe_key(key: str) -> bool:
    p = PurePosixPath(key)
    return not p.is_absolute() and ".." not in p.parts and len(p.parts) >= 2


# ------------------------------------------------------------------ restore: put back


def clean_db(data: bytes, work: Path) -> bytes:
    """The database as archived, without the user servers it says are running: their pids and ports were
    the old machine's (here a pid may be anyone's, and the hub would stop it). They start again at login."""
    db = work / "restore.sqlite"
    db.write_bytes(data)
    con = sqlite3.connect(db)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "spawners" in tables:
            if "servers" in tables:
                con.execute(
                    "DELETE FROM servers WHERE id IN (SELECT server_id FROM spawners WHERE server_id IS NOT NULL)"
                )
            con.execute("UPDATE spawners SET server_id = NULL, state = '{}'")
        con.commit()
    finally:
        con.close()
    out = db.read_bytes()
    db.unlink()
    return out


@dataclass
class RestorePlan:
    opened: Opened
    same_answers: bool  # the answers are the archive's own: its paths, so configs go back byte for byte
    notes: list[str]
    stop_services: Callable[[], list[str]] = list  # stops what runs of this install; the names stopped


def put_file(ctx, path: Path, data: bytes, mode: int, owner: str = "root") -> None:
    """As FileContent.apply does: new directories and the file journaled first, what was there backed up,
    the file written atomically with its final mode and owner."""
    from .actions.files import FileRecord, _mode, _owner
    from .actions.records import record_new_dirs
    from .actions.users import user_exists, user_ids

    record_new_dirs(ctx, path)
    ctx.journal.ensure()
    old_mode, old_owner = _mode(path), _owner(path)
    saved = ctx.runner.backup(path, ctx.layout.backups_dir)
    ctx.record(
        FileRecord(
            str(path), backup=str(saved) if saved else None, created=old_mode is None, mode=old_mode, owner=old_owner
        )
    )
    ids = user_ids(owner) if owner != "root" and user_exists(owner) else None  # the install hands it over later
    ctx.runner.write(path, data, mode, owner=ids)


def accounts(opened: Opened) -> list[dict]:
    if "accounts/accounts.json" not in opened.blobs:
        return []
    return json.loads(opened.read("accounts/accounts.json"))["users"]


def put_back(ctx, plan: RestorePlan, say: Callable[[str], None]) -> None:
    """Before the install's steps: the archive's files at this layout's places, the accounts with their
    password hashes, the homes. The install then finds the tokens and keys and does not make new ones."""
    from . import hub_users as roster_of
    from .engine import lock_state_dir

    L, o = ctx.layout, plan.opened
    ctx.journal.ensure()
    lock_state_dir(L.state_dir)  # as the engine's run holds it (the same process: it keeps this one)
    stopped = plan.stop_services()  # a restore over a running install: the hub must not keep the old database open
    if stopped:
        say(f"restore: stopped {', '.join(stopped)} (the install starts them again)")
    here = {p.key: p for p in places(L)}
    put = 0
    for kind in ("secret", "tls", "db", "roster", "config", "kernelspec"):
        if kind in ("config", "kernelspec") and not plan.same_answers:
            continue  # other answers (paths, ports): the install renders these for them
        for key, m in o.member(kind):
            place = kernelspec_place(L, key.removeprefix("kernelspecs/")) if kind == "kernelspec" else here.get(key)
            if place is None:
                plan.notes.append(f"{key}: not restored (these answers have no place for it)")
                continue
            data = clean_db(o.read(key), o.dir) if kind == "db" else o.read(key)
            put_file(ctx, place.path, data, m["mode"] & 0o777, m.get("owner", "root"))
            put += 1
    say(
        f"restore: put back {put} files (secrets, database, roster{', configs, kernelspecs' if plan.same_answers else ''})"
    )
    entries = [roster_of.Entry(u["name"], bool(u["admin"]), u["hash"]) for u in accounts(o) if usable_hash(u["hash"])]
    plan.notes += [
        f"account {u['name']}: not restored (no password hash in the archive: the account was locked or had none)"
        for u in accounts(o)
        if not usable_hash(u["hash"])
    ]
    for e in entries:
        ctx.runner.redactor.add(e.password_hash)
    if entries:
        created, rehashed, _ = roster_of.add(ctx, entries, L.state_dir / "users" / "restore-passwords.csv")
        say(
            f"restore: accounts: {len(created)} created, {len(rehashed)} passwords set from the archive, "
            f"{len(entries) - len(created) - len(rehashed)} unchanged"
        )
    for key, _ in o.member("home"):
        name = key.removeprefix("homes/").removesuffix(".tar")
        n = extract_home(o.blobs[key], name)
        say(f"restore: home of {name}: {n} entries")


def usable_hash(h: str) -> bool:
    from pydantic import TypeAdapter, ValidationError

    from .values import CryptHash

    try:
        return bool(TypeAdapter(CryptHash).validate_python(h))
    except ValidationError:
        return False


def extract_home(tar: Path, name: str) -> int:
    """The archived home into the account's home here, owned by it: regular files, directories and
    relative symlinks that stay inside; anything else, or a path through a symlink, is skipped."""
    pw = pwd.getpwnam(name)
    home = Path(pw.pw_dir)
    home.mkdir(parents=True, exist_ok=True)
    n = 0
    with tarfile.open(tar, "r") as tf:
        for ti in tf:
            rel = PurePosixPath(ti.name)
            if rel.is_absolute() or ".." in rel.parts:
                continue
            dest = home.joinpath(*rel.parts) if rel.parts != (".",) else home
            if any(p.is_symlink() for p in [dest.parent, *dest.parent.parents] if p.is_relative_to(home)):
                continue  # never write through a link
            mode = ti.mode & 0o777  # no setuid, setgid or sticky from an archive
            if ti.isdir():
                dest.mkdir(parents=True, exist_ok=True)
            elif ti.isreg():
                if dest.is_symlink() or dest.is_dir():
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                files.atomic_write(dest, tf.extractfile(ti).read(), mode)
            elif ti.issym():
                target = PurePosixPath(ti.linkname)
                if target.is_absolute() or not _inside(rel.parent / target):
                    continue
                if dest.is_symlink() or dest.exists():
                    continue
                os.symlink(ti.linkname, dest)
                os.lchown(dest, pw.pw_uid, pw.pw_gid)
                n += 1
                continue
            else:
                continue
            os.chmod(dest, mode)
            os.lchown(dest, pw.pw_uid, pw.pw_gid)
            n += 1
    return n


def _inside(p: PurePosixPath) -> bool:
    depth = 0
    for part in p.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return False
    return True
