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


def test_hand_edited_blocks_become_one_and_other_lines_stay():
    """Two blocks, a BEGIN whose END was deleted, an END alone: one block is written (where the first was),
    the stray markers go, and no line of the owner's is lost or read as ours."""
    ours = files.with_managed_block("", ['PATH="/usr/bin:/opt/spark/bin"']).splitlines(keepends=True)
    begin, end = files.BEGIN + "\n", files.END + "\n"
    cases = {
        "two blocks": "X=1\n" + "".join(ours) + "Y=2\n" + "".join(ours) + "Z=3\n",
        "no END": "X=1\n" + begin + "Y=2\nZ=3\n",
        "END alone": "X=1\n" + end + "Y=2\n" + "Z=3\n",
        "BEGIN, BEGIN, END": "X=1\n" + begin + "Y=2\n" + begin + "OLD=1\n" + end + "Z=3\n",
        "CRLF": "X=1\r\n" + begin.replace("\n", "\r\n") + "OLD=1\r\n" + end.replace("\n", "\r\n") + "Y=2\r\nZ=3\r\n",
    }
    for name, text in cases.items():
        out = files.with_managed_block(text, ["A=2"])
        assert out.count(files.BEGIN) == 1 and out.count(files.END) == 1, name
        assert "A=2" in out and "OLD=1" not in out and "/opt/spark" not in out, name
        outside = files.without_managed_block(out)
        for line in ("X=1", "Y=2", "Z=3"):
            assert line in outside, (name, line)
        assert files.with_managed_block(out, ["A=2"]) == out, name
        assert files.BEGIN not in files.remove_managed_block(out) and "A=2" not in files.remove_managed_block(out)
    assert files.with_managed_block("X=1\n" + begin + "Y=2\n", ["A=2"]).startswith("X=1\n" + files.BEGIN)


def test_a_symlinked_file_is_written_through_its_link(tmp_path):
    """/etc/environment kept in another place (config management's link): the link stays, the file it names
    gets the new bytes, its backup the old ones."""
    real = tmp_path / "kept" / "environment"
    real.parent.mkdir()
    real.write_text('PATH="/usr/bin"\n')
    link = tmp_path / "environment"
    link.symlink_to(real)
    saved = files.backup(link, tmp_path / "backups")
    files.atomic_write(link, b'PATH="/usr/bin"\nA=1\n', 0o644)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b'PATH="/usr/bin"\nA=1\n'
    assert saved.read_bytes() == b'PATH="/usr/bin"\n' and not saved.is_symlink()
    assert not [f for f in os.listdir(real.parent) if f.endswith(".tmp")] and sorted(os.listdir(tmp_path)) == [
        "backups",
        "environment",
        "kept",
    ]
