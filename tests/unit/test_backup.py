"""jeg_wizard.backup without a machine: archives of a layout in tmp_path, read back, damaged, foreign."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pwd
import sqlite3
import stat
import tarfile
import tempfile
from pathlib import Path

import pytest

from jeg_wizard import backup, hub_users
from jeg_wizard.layout import Layout


@pytest.fixture
def site(tmp_answers, monkeypatch):
    """A layout whose secrets, database, configs, kernelspec, answers and journal exist in tmp_path."""
    L = Layout(tmp_answers())
    for _, _, path, _ in L.secret_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"secret of {path.name}\n")
        path.chmod(0o600)
    db = L.hub_state_dir / "jupyterhub.sqlite"
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE servers (id INTEGER PRIMARY KEY, port INTEGER);"
        "CREATE TABLE spawners (id INTEGER PRIMARY KEY, server_id INTEGER, state TEXT);"
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
        "INSERT INTO servers VALUES (1, 4242); INSERT INTO spawners VALUES (1, 1, '{\"pid\": 1}');"
        "INSERT INTO users VALUES (1, 'alice');"
    )
    con.commit()
    con.close()
    for p in (
        L.hub_config,
        L.gateway_config,
        L.hub_users_file,
        L.state_dir / "answers.toml",
        L.kernel_dir / "kernel.json",
    ):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"content of {p.name}\n")
    (L.state_dir / "journal.jsonl").write_text("{}\n")
    monkeypatch.setattr(hub_users, "shadow", lambda: {})
    return L


def _members(L: Layout, archive: Path, passphrase: str | None = None) -> backup.Opened:
    o = backup.open_archive(archive, passphrase)
    assert o.manifest["format"] == backup.FORMAT
    return o


def test_backup_and_read_back(site, tmp_path):
    L = site
    made = backup.make(L, tmp_path / "out" / "b.tgz")
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600
    assert not [p for p in made.path.parent.iterdir() if p.name != "b.tgz"]  # no temp file left
    o = _members(L, made.path)
    try:
        assert o.read("secrets/cookie-secret") == L.cookie_secret_file.read_bytes()
        assert o.read("config/jupyterhub_config.py") == L.hub_config.read_bytes()
        assert o.read("kernelspecs/kernel.json") == (L.kernel_dir / "kernel.json").read_bytes()
        assert o.read("state/journal.jsonl") == b"{}\n"
        assert o.manifest["answers_sha256"] == hashlib.sha256((L.state_dir / "answers.toml").read_bytes()).hexdigest()
        copy = tmp_path / "copy.sqlite"
        copy.write_bytes(o.read("hub/jupyterhub.sqlite"))
        assert sqlite3.connect(copy).execute("SELECT name FROM users").fetchall() == [("alice",)]
    finally:
        o.close()
    assert not o.dir.exists()


def test_encrypted_archive(site, tmp_path):
    made = backup.make(site, tmp_path / "b.enc", passphrase="correct horse")
    raw = made.path.read_bytes()
    assert raw.startswith(backup.SEAL_MAGIC) and b"secret of" not in raw
    o = _members(site, made.path, "correct horse")
    assert o.read("secrets/proxy-token") == site.proxy_token_file.read_bytes()
    o.close()
    with pytest.raises(backup.BackupError, match="passphrase is wrong"):
        backup.open_archive(made.path, "wrong")
    with pytest.raises(backup.BackupError, match="is encrypted"):
        backup.open_archive(made.path, None)
    cut = tmp_path / "cut.enc"
    cut.write_bytes(raw[:-20])
    with pytest.raises(backup.BackupError):
        backup.open_archive(cut, "correct horse")


def test_large_encrypted_member_spans_chunks(site, tmp_path):
    big = os.urandom(backup.CHUNK * 2 + 123)  # incompressible: several sealed chunks
    site.hub_config.write_bytes(big)
    made = backup.make(site, tmp_path / "b.enc", passphrase="pw")
    o = _members(site, made.path, "pw")
    assert o.read("config/jupyterhub_config.py") == big
    o.close()


def test_damaged_archive_is_refused(site, tmp_path):
    made = backup.make(site, tmp_path / "b.tgz")
    raw = bytearray(made.path.read_bytes())
    raw[-8] ^= 0xFF  # gzip's CRC: read only once the whole stream is
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(backup.BackupError, match="damaged"):
        backup.open_archive(bad, None)


def test_a_flipped_bit_is_refused_unless_it_restores_the_same_bytes(site, tmp_path):
    """deflate can flip into the same content (a back-reference moved to another run of tar's zeros, the last
    byte's padding bits): such an archive restores exactly what was saved. Every other flip is refused, as is
    every flip of gzip's CRC and length, which are read only after tar's end marker."""
    made = backup.make(site, tmp_path / "b.tgz")
    raw = made.path.read_bytes()
    good = backup.open_archive(made.path, None)
    want = (good.manifest, {k: good.read(k) for k in good.blobs})
    good.close()
    bad = tmp_path / "bad.tgz"
    before = set(Path(tempfile.gettempdir()).glob("jegw-restore-*"))
    refused = same = 0
    for at in [*range(10, len(raw) - 40, 3), *range(len(raw) - 40, len(raw))]:  # after the gzip header
        for bit in (0x01, 0x80):
            flipped = bytearray(raw)
            flipped[at] ^= bit
            bad.write_bytes(bytes(flipped))
            try:
                o = backup.open_archive(bad, None)
            except backup.BackupError:
                refused += 1
                continue
            got = (o.manifest, {k: o.read(k) for k in o.blobs})
            o.close()
            assert at < len(raw) - 8 and got == want, f"byte {at} bit {bit:#x} passed with other content"
            same += 1
    assert refused > 9 * same  # measured: about 1 flip in 100 keeps the content
    assert set(Path(tempfile.gettempdir()).glob("jegw-restore-*")) == before  # each refusal cleans up


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))


def test_foreign_archives_are_refused(tmp_path):
    other = tmp_path / "other.tgz"
    _tar(other, {"etc/passwd": b"x"})
    with pytest.raises(backup.BackupError, match="no manifest.json"):
        backup.open_archive(other, None)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(backup.BackupError, match="not a jeg-wizard backup"):
        backup.open_archive(text, None)
    wrong = tmp_path / "wrong.tgz"
    _tar(wrong, {"manifest.json": json.dumps({"format": "something-else"}).encode()})
    with pytest.raises(backup.BackupError, match="no format"):
        backup.open_archive(wrong, None)


def test_a_member_that_differs_from_the_manifest_is_named(site, tmp_path):
    made = backup.make(site, tmp_path / "b.tgz")
    o = backup.open_archive(made.path, None)
    manifest = o.manifest
    members = {k: o.read(k) for k in o.blobs}
    o.close()
    members["secrets/cookie-secret"] = b"changed\n"
    members["extra/file"] = b"x"
    changed = tmp_path / "changed.tgz"
    _tar(changed, {**members, "manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(backup.BackupError) as e:
        backup.open_archive(changed, None)
    assert "secrets/cookie-secret: damaged" in str(e.value)
    assert "extra/file: in the archive but not in the manifest" in str(e.value)


def test_clean_db_forgets_the_old_machines_servers(site, tmp_path):
    data = (site.hub_state_dir / "jupyterhub.sqlite").read_bytes()
    out = tmp_path / "clean.sqlite"
    out.write_bytes(backup.clean_db(data, tmp_path))
    con = sqlite3.connect(out)
    assert con.execute("SELECT server_id, state FROM spawners").fetchall() == [(None, "{}")]
    assert con.execute("SELECT count(*) FROM servers").fetchone() == (0,)
    assert con.execute("SELECT name FROM users").fetchall() == [("alice",)]


def test_passphrase_sources(tmp_path, monkeypatch):
    f = tmp_path / "pw"
    f.write_text("from a file\n")
    f.chmod(0o644)
    with pytest.raises(backup.BackupError, match="readable by others"):
        backup.read_passphrase(str(f), None)
    f.chmod(0o600)
    assert backup.read_passphrase(str(f), None) == "from a file"
    monkeypatch.delenv("JEGW_NO_SUCH", raising=False)
    with pytest.raises(backup.BackupError, match="not set"):
        backup.read_passphrase(None, "JEGW_NO_SUCH")
    monkeypatch.setenv("JEGW_PW", "from env")
    assert backup.read_passphrase(None, "JEGW_PW") == "from env"
    assert backup.read_passphrase(None, None) is None


def test_extract_home_stays_inside(tmp_path, monkeypatch):
    home = tmp_path / "home"
    me = pwd.getpwuid(os.getuid())
    fake = pwd.struct_passwd((me.pw_name, "x", me.pw_uid, me.pw_gid, "", str(home), "/bin/sh"))
    monkeypatch.setattr(backup.pwd, "getpwnam", lambda name: fake)
    tar = tmp_path / "h.tar"
    with tarfile.open(tar, "w") as tf:
        for name, data in {"./nb/a.ipynb": b"{}", "../escape": b"x", "/abs": b"x"}.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o4755
            tf.addfile(ti, io.BytesIO(data))
        for name, target in {"./up": "../../etc", "./ok": "nb/a.ipynb"}.items():
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tf.addfile(ti)
    backup.extract_home(tar, "someone")
    assert (home / "nb" / "a.ipynb").read_bytes() == b"{}"
    assert stat.S_IMODE((home / "nb" / "a.ipynb").stat().st_mode) == 0o755  # no setuid from an archive
    assert not (tmp_path / "escape").exists() and not Path("/abs").exists()
    assert not (home / "up").is_symlink() and (home / "ok").is_symlink()


def test_put_back_into_other_paths(site, tmp_path, tmp_answers):
    """Into a layout with other paths: secrets, database (servers forgotten) and roster at its places, each
    journaled; configs and kernelspecs left to the install (other answers); accounts without a hash noted."""
    from jeg_wizard.engine import make_context, unlock_state_dir

    made = backup.make(site, tmp_path / "b.tgz")
    o = backup.open_archive(made.path, None)
    other = tmp_answers(
        system={"prefix": str(tmp_path / "new" / "opt"), "state_dir": str(tmp_path / "new" / "state")},
        hub={"config_dir": str(tmp_path / "new" / "etc")},
        kernels={"dir": str(tmp_path / "new" / "kernels")},
    )
    ctx = make_context(other, log_to_file=False)
    plan = backup.RestorePlan(o, False, [], stop_services=lambda: ["hub"])
    said = []
    try:
        backup.put_back(ctx, plan, said.append)
    finally:
        o.close()
        unlock_state_dir(ctx.layout.state_dir)
    L2 = ctx.layout
    assert L2.cookie_secret_file.read_bytes() == site.cookie_secret_file.read_bytes()
    assert stat.S_IMODE(L2.cookie_secret_file.stat().st_mode) == 0o600
    assert L2.hub_users_file.read_bytes() == site.hub_users_file.read_bytes()
    assert not L2.hub_config.exists() and not (L2.kernel_dir / "kernel.json").exists()
    con = sqlite3.connect(L2.hub_state_dir / "jupyterhub.sqlite")
    assert con.execute("SELECT server_id FROM spawners").fetchall() == [(None,)]
    journaled = {r.path for r in ctx.journal.records() if type(r).__name__ == "FileRecord"}
    assert {str(L2.cookie_secret_file), str(L2.hub_users_file)} <= journaled
    assert said[0] == "restore: stopped hub (the install starts them again)"
