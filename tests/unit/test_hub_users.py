"""Users in bulk: the CSV is checked whole before anything changes; the roster's arithmetic (the real
accounts, hub logins and restarts: tests/e2e/test_bulk_users.py)."""

from __future__ import annotations

import pytest

from jeg_wizard import hub_users
from jeg_wizard.answers import Answers, AnswersError
from jeg_wizard.layout import Layout

HASH = "$6$saltsalt$" + "a" * 86


def read(tmp_path, text: str):
    p = tmp_path / "users.csv"
    p.write_text(text)
    return hub_users.read_csv(str(p), Layout(Answers()))


def test_a_csv_with_header_comments_admin_flags_and_hashes(tmp_path):
    got = read(tmp_path, f"name,admin,password_hash\n# a comment\nalice\nbob,yes\ncarol,0,{HASH}\n\n")
    assert got == [
        hub_users.Entry("alice"),
        hub_users.Entry("bob", admin=True),
        hub_users.Entry("carol", admin=False, password_hash=HASH),
    ]


def test_every_bad_line_is_named_before_anything_changes(tmp_path):
    with pytest.raises(AnswersError) as e:
        read(tmp_path, "alice\nBad Name\nbob,maybe\ncarol,no,notahash\nalice\nroot\ndave,no,x,extra\n")
    msgs = "\n".join(e.value.problems)
    assert "line 2: name 'Bad Name'" in msgs
    assert "line 3: admin 'maybe' for bob: allowed yes/no" in msgs
    assert "line 4: password_hash for carol" in msgs and "notahash" not in msgs  # a hash's typo: not shown
    assert "line 5: alice is already on line 1" in msgs
    assert "root may not be a hub user" in msgs
    assert "line 7: 4 columns; allowed: name[,admin[,password_hash]]" in msgs


def test_system_accounts_and_empty_files_are_refused(tmp_path):
    with pytest.raises(AnswersError, match=r"daemon is a system account \(uid 1 < 1000\)"):
        read(tmp_path, "daemon\n")
    with pytest.raises(AnswersError, match="no users in it"):
        read(tmp_path, "name\n# nobody yet\n")


def test_roster_add_then_remove_then_add_again():
    empty = {"allowed": [], "admins": [], "removed": []}
    r = hub_users.added(empty, [hub_users.Entry("a"), hub_users.Entry("b", admin=True)])
    assert r == {"allowed": ["a", "b"], "admins": ["b"], "removed": []}
    assert hub_users.added(r, [hub_users.Entry("a"), hub_users.Entry("b", admin=True)]) == r  # a re-run: the same
    r = hub_users.removed(r, ["b"])
    assert r == {"allowed": ["a"], "admins": [], "removed": ["b"]}  # blocked: outranks the hub's database
    assert hub_users.added(r, [hub_users.Entry("b")]) == {"allowed": ["a", "b"], "admins": [], "removed": []}


def test_the_hub_config_reads_the_roster(tmp_path):
    """The rendered config, run as JupyterHub would: the roster's users allowed, admins, blocked."""
    from jeg_wizard import render

    L = Layout(
        Answers.model_validate({"hub": {"config_dir": str(tmp_path)}, "system": {"state_dir": str(tmp_path / "s")}})
    )
    text = render.render("jupyterhub_config.py.j2", render.context(L))
    L.hub_users_file.write_text(hub_users.render_roster({"allowed": ["ann"], "admins": ["ann"], "removed": ["bo"]}))

    class Section(dict):
        def __getattr__(self, k):
            return self.setdefault(k, Section())

        def __setattr__(self, k, v):
            self[k] = v

    c = Section()
    L.gateway_token_file.parent.mkdir(parents=True)
    L.gateway_token_file.write_text("t" * 32)
    exec(compile(text, "jupyterhub_config.py", "exec"), {"get_config": lambda: c})
    assert c.Authenticator.allowed_users == {"hubadmin", "ann"}
    assert c.Authenticator.admin_users == {"hubadmin", "ann"}
    assert c.Authenticator.blocked_users == {"bo"}
