import os
import stat

from jeg_wizard import files

FOREIGN = 'PATH="/usr/local/bin:/usr/bin"\n# a comment   with  odd spacing\n\tLANG=C.UTF-8   \nNO_NEWLINE_AT_END=1'


def test_block_appended_and_foreign_bytes_kept():
    out = files.with_managed_block(FOREIGN, ["A=1"])
    assert out.startswith(FOREIGN + "\n")
    assert files.without_managed_block(out) == FOREIGN + "\n"


def test_block_replaced_in_place_idempotently():
    once = files.with_managed_block("X=1\n", ["A=1"]) + "Y=2\n"
    twice = files.with_managed_block(once, ["A=2"])
    assert twice == files.with_managed_block(twice, ["A=2"])
    assert twice.startswith("X=1\n") and twice.endswith("Y=2\n")
    assert "A=1" not in twice and "A=2" in twice


def test_atomic_write_mode_and_backup(tmp_path):
    p = tmp_path / "etc" / "f.conf"
    files.atomic_write(p, b"old", 0o644)
    saved = files.backup(p, tmp_path / "backups")
    files.atomic_write(p, b"new", 0o600)
    assert p.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert saved.read_bytes() == b"old"
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    assert not [f for f in os.listdir(p.parent) if f.endswith(".tmp")]


def test_backup_of_missing_file_is_none(tmp_path):
    assert files.backup(tmp_path / "none", tmp_path / "b") is None


def test_two_backups_same_second_do_not_collide(tmp_path):
    p = tmp_path / "f"
    p.write_text("1")
    a = files.backup(p, tmp_path / "b")
    p.write_text("2")
    b = files.backup(p, tmp_path / "b")
    assert a != b and a.read_text() == "1" and b.read_text() == "2"
