"""The offline bundle: unpacking verifies every file, refuses what does not fit, and the install's
commands read only from it (the real offline installs: tests/systemd/test_site.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from jeg_wizard import bundle, bundling, preflight
from jeg_wizard.answers import Answers
from jeg_wizard.engine import Engine, make_context
from jeg_wizard.runner import DryRunRunner
from jeg_wizard.steps import STEPS

WANTS = {
    "platform": {"distro": "debian 12", "arch": "amd64", "python": "3.11"},
    "debs": ["python3-venv", "openjdk-17-jdk-headless", "nodejs"],
    "venvs": {"hub": ["jupyterhub==6.1.*"], "kernel": ["ipykernel>=6.29,<8"]},
    "npm": ["4.6.3", "5.3.0"],
    "spark": {"source": "pypi", "version": "4.3.0", "url": "", "tarball": ""},
}


def make_tree(root: Path, wants: dict = WANTS) -> Path:
    (root / "wheels").mkdir(parents=True)
    (root / "wheels" / "a-1-py3-none-any.whl").write_bytes(b"wheel")
    (root / "debs").mkdir()
    (root / "debs" / "x_1_all.deb").write_bytes(b"deb")
    (root / bundle.META).write_text(json.dumps({"format": bundle.FORMAT, "wants": wants}))
    bundle.write_sums(root)
    return root


def pack(tree: Path, out: Path, extra: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(out, "w:") as tar:
        for p in sorted(tree.rglob("*")):
            if p.is_file():
                tar.add(p, arcname=p.relative_to(tree).as_posix())
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def test_unpack_verifies_and_opens(tmp_path):
    tar = pack(make_tree(tmp_path / "t"), tmp_path / "b.tar")
    seen = []
    b = bundle.unpack(tar, tmp_path / "cache", progress=lambda d, t: seen.append((d, t)))
    assert (b.wheels / "a-1-py3-none-any.whl").read_bytes() == b"wheel"
    assert b.wants == WANTS and seen and seen[-1][0] <= seen[-1][1]
    assert b.pip_options() == ["--no-index", "--find-links", str(b.wheels)]
    assert "deb [trusted=yes] file://" in (b.dir / "apt" / "sources.list").read_text()
    opts = b.apt_options()
    assert opts[0::2] == ["-o"] * 3 and any(o.startswith("Dir::State::Lists=") for o in opts)
    # the same file again: not unpacked again (the stamp), the same directory
    (b.dir / "wheels" / "marker").write_text("kept")
    assert bundle.unpack(tar, tmp_path / "cache").dir == b.dir and (b.dir / "wheels" / "marker").exists()


def test_a_damaged_file_is_named_and_nothing_is_left(tmp_path):
    tree = make_tree(tmp_path / "t")
    (tree / "debs" / "x_1_all.deb").write_bytes(b"DEB")  # after the manifest was written
    tar = pack(tree, tmp_path / "b.tar")
    with pytest.raises(bundle.BundleError, match=r"damaged\): debs/x_1_all\.deb"):
        bundle.unpack(tar, tmp_path / "cache")
    assert not (tmp_path / "cache" / "current").exists() and not (tmp_path / "cache" / ".partial").exists()


def test_missing_and_extra_files_are_named(tmp_path):
    tree = make_tree(tmp_path / "t")
    (tree / "wheels" / "a-1-py3-none-any.whl").unlink()
    tar = pack(tree, tmp_path / "b.tar", {"wheels/evil.whl": b"x"})
    with pytest.raises(bundle.BundleError) as e:
        bundle.unpack(tar, tmp_path / "cache")
    assert "missing from it: wheels/a-1-py3-none-any.whl" in str(e.value)
    assert "not in the manifest: wheels/evil.whl" in str(e.value)


@pytest.mark.parametrize("name", ["../outside", "/etc/passwd-x", "a/../../outside"])
def test_members_outside_the_directory_are_refused(tmp_path, name):
    tar = pack(make_tree(tmp_path / "t"), tmp_path / "b.tar", {name: b"x"})
    with pytest.raises(bundle.BundleError, match="outside the bundle"):
        bundle.unpack(tar, tmp_path / "cache")
    assert not (tmp_path / "outside").exists()


def test_not_a_tar_or_no_file(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\x00" * 10 + b"not a tar" * 100)
    with pytest.raises(bundle.BundleError, match="not a readable tar file|not a jeg-wizard bundle"):
        bundle.unpack(junk, tmp_path / "cache")
    with pytest.raises(bundle.BundleError, match="no such file"):
        bundle.unpack(tmp_path / "nope.tar", tmp_path / "cache")


def test_a_newer_format_is_refused(tmp_path):
    tree = tmp_path / "t"
    make_tree(tree)
    (tree / bundle.META).write_text(json.dumps({"format": 99, "wants": WANTS}))
    bundle.write_sums(tree)
    with pytest.raises(bundle.BundleError, match="format 99; this wizard reads format 1"):
        bundle.unpack(pack(tree, tmp_path / "b.tar"), tmp_path / "cache")


def test_problems_name_what_does_not_fit():
    assert bundle.problems(WANTS, WANTS) == []
    want = json.loads(json.dumps(WANTS))
    want["platform"]["distro"] = "ubuntu 24.04"
    want["debs"].append("openjdk-21-jdk-headless")
    want["venvs"]["hub"] = ["jupyterhub==7.*"]
    want["spark"]["version"] = "4.2.1"
    out = "\n".join(bundle.problems(WANTS, want))
    assert "built for distro 'debian 12', this machine has 'ubuntu 24.04'" in out
    assert "no .deb for openjdk-21-jdk-headless" in out
    assert "the hub environment's requirements differ" in out
    assert "spark.version = '4.3.0', the answers say '4.2.1'" in out


def test_the_bootstrap_entry_points(tmp_path):
    """What ./jeg-wizard runs with the distribution's python (-I: the stdlib alone, no venv yet)."""
    tar = pack(make_tree(tmp_path / "t"), tmp_path / "b.tar")
    code = (
        "import sys, pathlib; sys.path.insert(0, sys.argv[1]); import bundle; "
        "bundle.UNPACK_ROOT = pathlib.Path(sys.argv[2]); sys.exit(bundle.main(sys.argv[3:]))"
    )
    mod, root = str(Path(bundle.__file__).parent), tmp_path / "c"

    def run(*args):
        return subprocess.run([sys.executable, "-I", "-c", code, mod, str(root), *args], capture_output=True, text=True)

    r = run("unpack", str(tar))
    assert r.returncode == 0 and r.stdout.strip() == str(root / "current"), r.stderr
    assert "unpacking the bundle: 100%" in r.stderr
    r = run("apt-options", str(root / "current"))
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "-o"
    assert r.stdout.splitlines()[1] == f"Dir::Etc::SourceList={root / 'current' / 'apt' / 'sources.list'}"
    r = run("apt-options", str(tmp_path / "nope"))
    assert r.returncode == 2 and "not readable JSON" in r.stderr


def test_the_install_reads_only_from_the_bundle(tmp_path, tmp_answers):
    """Every apt and pip command of the plan points at the bundle, the proxy's tree comes from it: none
    can reach an index."""
    from jeg_wizard.plan import render_plan

    b = bundle.Bundle(tmp_path / "b", {"format": bundle.FORMAT, "wants": WANTS})
    ctx = make_context(tmp_answers(), DryRunRunner(probe_results={}), dry_run=True, bundle=b)
    text = render_plan(Engine(ctx, STEPS).plan(), ctx)
    lines = [ln.strip().removeprefix("$ ") for ln in text.splitlines()]
    pips = [ln for ln in lines if "/uv pip install" in ln or " -m pip install" in ln or "/bin/pip install" in ln]
    apts = [ln for ln in lines if ln.startswith("apt-get")]
    trees = [ln for ln in lines if ln.startswith("tar -xf") and "/npm/" in ln]
    assert len(pips) >= 4 and all(f"--no-index --find-links {b.wheels}" in ln for ln in pips), pips
    assert apts and all(f"Dir::Etc::SourceList={b.dir}/apt/sources.list" in ln for ln in apts), apts
    assert any(" update" in ln for ln in apts)  # the bundle's own lists, even with apt_update = false
    assert not [ln for ln in lines if ln.startswith("npm ")]  # the proxy comes installed: its tree is unpacked
    assert trees and all(f"tar -xf {b.dir}/npm/configurable-http-proxy-" in ln for ln in trees), trees
    online = make_context(tmp_answers(), DryRunRunner(probe_results={}), dry_run=True)
    assert "--no-index" not in render_plan(Engine(online, STEPS).plan(), online)


def test_the_gate_names_what_the_bundle_lacks_and_does_not_ask_an_index(tmp_path, monkeypatch):
    a = Answers()
    here = bundling.wants(a)
    assert here["venvs"]["spark"] == [f"pyspark=={a.spark.version}"] and "nodejs" in here["debs"]
    other = json.loads(json.dumps(here))
    other["venvs"]["gateway"] = ["jupyter_enterprise_gateway==2.0"]
    monkeypatch.setattr(preflight, "pypi_problems", lambda *a: pytest.fail("asked the package index offline"))
    b = bundle.Bundle(tmp_path, {"format": bundle.FORMAT, "wants": other})
    out = preflight.problems(a, need_root=False, bundle=b)
    assert [p for p in out if p.startswith("bundle:")] == [
        "bundle: the gateway environment's requirements differ from this wizard's "
        f"({', '.join(here['venvs']['gateway'])}): rebuild the bundle with this wizard"
    ]


def test_flags_are_checked_before_anything(tmp_path, capsys):
    from jeg_wizard import cli

    assert cli.main(["--bundle", str(tmp_path / "b.tar")]) == cli.EXIT_USAGE
    assert "--bundle: only with `install` or `--unattended ANSWERS`" in capsys.readouterr().err
    assert cli.main(["install", "--bundle", ""]) == cli.EXIT_USAGE
    assert "--bundle: an empty path was given; give the path of a bundle file" in capsys.readouterr().err
    assert cli.main(["install", "--bundle", str(tmp_path / "none.tar")]) == cli.EXIT_USAGE
    assert f"--bundle {tmp_path / 'none.tar'}: no such file" in capsys.readouterr().err
    answers = tmp_path / "a.toml"
    answers.write_text("")
    assert cli.main(["bundle", str(answers), "-o", str(tmp_path)]) == 2
    assert "is a directory; give a file name" in capsys.readouterr().err
