"""`jeg-wizard upgrade`: the release table, the refusal table (data with a reason per row), the deltas from
the venvs' markers, and the atomic switch of a stable path and back. The real upgrade, its end-to-end check
and a rolled-back failure: tests/e2e/test_upgrade.py."""

import os

import pytest

from jeg_wizard import releases, upgrade
from jeg_wizard.actions.python_envs import MARKER, recipe
from jeg_wizard.answers import AnswersError
from jeg_wizard.engine import make_context
from jeg_wizard.steps import gateway, hub, kernelspecs


@pytest.mark.parametrize(
    "version, spec, ok",
    [
        ("2.14.2", ">=2", True),
        ("1.24.0", ">=2", False),
        ("1.24.0", "<2", True),
        ("4.1.6", "<5", True),
        ("5.0.0", "<5", False),
        ("3.5.3", ">=3,<4", True),
        ("4.0.1", ">=3,<4", False),
        ("17.0.13", ">17", False),  # Java 17 is 17, whatever its update
        ("21", ">17", True),
        ("6.1", "==6.1", True),
        ("6.1.1", "!=6.1.1", False),
        ("2.0.0rc1", ">=2", True),  # the release part decides
        ("", ">=2", False),
        ("abc", "<5", False),
    ],
)
def test_matches(version, spec, ok):
    assert releases.matches(version, spec) is ok


def test_every_refusal_has_a_reason_and_a_readable_spec():
    assert len(releases.REFUSED) >= 8
    for what, broken, when, when_broken, why in releases.REFUSED:
        assert what and len(why) > 20, what
        for spec in (broken, when_broken) if when else (broken,):
            for c in spec.split(","):
                assert c.strip()[:1] in "<>=!" and releases._num(c.strip().lstrip("<>=!")), (what, spec)
        assert bool(when) == bool(when_broken)


@pytest.mark.parametrize(
    "versions, said",
    [
        ({"gateway:jupyter_server": "2.14.0"}, "gateway:jupyter_server 2.14.0: Enterprise Gateway 3.3.0 pins"),
        ({"hub:jupyter_server": "1.24.0"}, "hub:jupyter_server 1.24.0: the user servers need jupyter_server >= 2"),
        ({"hub:jupyterhub": "4.1.6"}, "hub:jupyterhub 4.1.6: the hub config is written for JupyterHub 5's allow"),
        ({"hub:notebook": "6.5.7"}, "hub:notebook 6.5.7: notebook 6.x"),
        ({"spark": "4.0.1", "java": "11"}, "spark 4.0.1 with java 11: Spark 4.x runs on Java 17 or 21 only"),
        ({"spark": "2.4.8", "java": "17"}, "spark 2.4.8 with java 17: Spark 2.4 runs on Java 8 only"),
        ({"proxy": "5.3.0", "node": "18"}, "proxy 5.3.0 with node 18: configurable-http-proxy 5.x needs Node >= 20"),
    ],
)
def test_refused_combinations_name_what_and_why(versions, said):
    found = releases.refusals(versions)
    assert len(found) == 1 and found[0].startswith(said), found


@pytest.mark.parametrize(
    "versions",
    [
        {"gateway:jupyter_server": "1.24.0", "hub:jupyter_server": "2.17.0", "hub:jupyterhub": "6.1.1"},
        {"spark": "4.0.1", "java": "17"},
        {"spark": "3.5.3", "java": "17"},
        {"spark": "4.0.1"},  # Java unknown: never refused on a guess
        {"proxy": "5.3.0", "node": "20"},
        {},
    ],
)
def test_working_combinations_pass(versions):
    assert releases.refusals(versions) == []


def test_every_release_set_passes_the_table_and_the_steps_build_the_current_one():
    for r in releases.RELEASES.values():
        pins = {f"hub:{k}": v for k, v in releases.pinned(r.hub).items()}
        pins |= {f"gateway:{k}": v for k, v in releases.pinned(r.gateway + r.gateway_no_deps).items()}
        assert releases.refusals(pins) == [], r.name
    assert hub.HUB_REQUIREMENTS == list(releases.CURRENT.hub)
    assert gateway.GATEWAY_DEPENDENCIES == list(releases.CURRENT.gateway)
    assert gateway.GATEWAY_REQUIREMENTS == list(releases.CURRENT.gateway_no_deps)
    assert kernelspecs.KERNEL_REQUIREMENTS == list(releases.CURRENT.kernel)
    assert releases.PREVIOUS.hub != releases.CURRENT.hub


def test_pinned_takes_exact_pins_only():
    assert releases.pinned(["jupyterhub==6.1.*", "jupyter-server==2.14.2", "ipykernel>=6.29,<8"]) == {
        "jupyterhub": "6.1",
        "jupyter_server": "2.14.2",
    }


def test_a_release_is_named_from_the_venv_markers():
    cur, prev = releases.CURRENT, releases.PREVIOUS
    gw = recipe(cur.gateway, cur.gateway_no_deps)
    assert releases.named({"hub": recipe(cur.hub), "gateway": gw, "kernel": recipe(cur.kernel)}) == cur.name
    assert releases.named({"hub": recipe(prev.hub), "gateway": gw}) == prev.name
    assert releases.named({"hub": "jupyterhub==4.1.*\n"}) == ""


def _venv(path, text):
    path.mkdir(parents=True)
    (path / MARKER).write_text(text)
    (path / "file").write_text(f"in {path.name}\n")


def test_the_plan_says_what_changes_and_refuses_a_broken_target(tmp_answers, monkeypatch):
    ctx = make_context(tmp_answers(), dry_run=True)
    L, cur, prev = ctx.layout, releases.CURRENT, releases.PREVIOUS
    _venv(L.hub_venv, recipe(prev.hub))
    _venv(L.gateway_venv, recipe(cur.gateway, cur.gateway_no_deps))
    _venv(L.kernel_venv, recipe(cur.kernel))
    p = upgrade.plan(ctx)
    assert p.current == prev.name and p.target is cur and p.refused == []
    assert [e.name for e in p.changing] == ["hub"]
    text = upgrade.render(p)
    assert f"upgrade: from {prev.name} to {cur.name}" in text
    assert "built with: jupyterhub==6.0.* jupyterlab==4.5.* notebook==7.5.*" in text
    assert "target:     jupyterhub==6.1.* jupyterlab==4.6.* notebook==7.6.*" in text
    assert f"gateway ({L.gateway_venv}): not found (already {cur.name}: unchanged)" in text
    assert upgrade.plan(ctx, prev.name).changing == []

    with pytest.raises(AnswersError) as e:
        upgrade.plan(ctx, "1999.01")
    assert "--to: no release set '1999.01'" in e.value.problems[0]
    old = releases.Release("2023.01", hub=("jupyterhub==4.1.*", "jupyterlab==3.6.*", "notebook==6.5.*"))
    monkeypatch.setitem(releases.RELEASES, old.name, old)
    refused = upgrade.plan(ctx, old.name).refused
    assert [r.split(":")[1] for r in refused] == ["notebook 6.5", "jupyterhub 4.1", "jupyterlab 3.6"], refused


def test_the_switch_is_one_rename_and_goes_back_exactly(tmp_path):
    link = tmp_path / "jeg" / "hub"
    _venv(link, "old\n")
    inode = link.stat().st_ino
    env = upgrade.Env("hub", link, ("x==2",), (), "old\n")
    new, old = env.beside("/usr/bin/python3"), env.beside("/usr/bin/python3", "old\n")
    assert new.parent == old.parent == link.parent and new != old
    assert new == upgrade.Env("hub", link, ("x==2",), (), None).beside("/usr/bin/python3")  # by recipe only
    assert new != env.beside("/usr/bin/python3.12")
    _venv(new, "x==2\n")

    s = upgrade.switch(env, new, old)  # the install's real directory: exchanged with the symlink
    assert s.was_dir and os.readlink(link) == new.name and (link / "file").read_text() == f"in {new.name}\n"
    assert old.stat().st_ino == inode and not (tmp_path / "jeg" / ".hub.switch").exists()
    upgrade.switch_back(s)
    assert not link.is_symlink() and link.stat().st_ino == inode and not old.exists()
    assert sorted(p.name for p in link.parent.iterdir()) == sorted(["hub", new.name])

    s = upgrade.switch(env, new, old)
    env2 = upgrade.Env("hub", link, ("x==1",), (), "x==2\n")
    s2 = upgrade.switch(env2, old, tmp_path / "unused")  # a symlink already: replaced in one rename
    assert not s2.was_dir and s2.old == new and os.readlink(link) == old.name
    upgrade.switch_back(s2)
    assert os.readlink(link) == new.name
    upgrade.switch_back(s)
    assert not link.is_symlink() and (link / MARKER).read_text() == "old\n"


def test_a_failed_or_refused_build_switches_nothing(tmp_answers, monkeypatch, tmp_path):
    from jeg_wizard import backup

    ctx = make_context(tmp_answers(), log_to_file=False)
    L, cur, prev = ctx.layout, releases.CURRENT, releases.PREVIOUS
    L.state_dir.mkdir(parents=True)
    _venv(L.hub_venv, recipe(prev.hub))
    _venv(L.gateway_venv, recipe(cur.gateway, cur.gateway_no_deps))
    _venv(L.kernel_venv, recipe(cur.kernel))
    p = upgrade.plan(ctx)
    made = []
    monkeypatch.setattr(backup, "make", lambda *a, **k: made.append(a) or backup.Made(tmp_path, 1, 0.0, 1, [], [], []))

    def boom(ctx, env):
        raise RuntimeError("pip said no\nthe rest of its log")

    monkeypatch.setattr(upgrade, "build", boom)
    out = upgrade.apply(p)
    assert not out.ok and out.put_back and len(made) == 1  # the backup came first
    assert "building the hub environment beside failed (pip said no); nothing switched" in out.message

    beside = L.hub_venv.with_name("hub-new")
    monkeypatch.setattr(upgrade, "build", lambda ctx, env: beside)
    monkeypatch.setattr(upgrade, "venv_versions", lambda venv, names: {"jupyter_server": "1.24.0", "notebook": "7.6.1"})
    out = upgrade.apply(p)
    assert (
        not out.ok
        and f"refused after pip resolved the new environment (nothing switched; it stays beside at {beside})"
        in out.message
    )
    assert "hub:jupyter_server 1.24.0: the user servers need jupyter_server >= 2" in out.message
    assert not L.hub_venv.is_symlink() and (L.hub_venv / MARKER).read_text() == recipe(prev.hub)
