"""The venvs are built by uv with pip's own settings translated; pip installs when one has no uv equal.
Fast, no network: `pip config list` output given as a dict."""

import sys
from types import SimpleNamespace

from jeg_wizard.actions import PipTarget, Venv, python_envs
from jeg_wizard.actions.python_envs import Installer, uv_settings

# this machine's kind of configuration: /etc/pip.conf, /etc/xdg/pip/pip.conf and PIP_* variables
SITE = {
    "global.cert": "/etc/ssl/certs/ca-certificates.crt",
    "global.constraint": "/etc/xdg/pip/constraints.txt",
    "global.extra-index-url": "file:///opt/pypi/simple file:///opt/pypi-more/simple",
    "global.find-links": "/opt/wheels",
    "global.timeout": "60",
    "install.index-url": "https://mirror.example/simple",
    "download.index-url": "https://elsewhere.example/simple",  # not pip install's section: ignored
    ":env:.find-links": "/srv/wheels",  # PIP_FIND_LINKS: over the files' value
    ":env:.trusted-host": "mirror.example",
    ":env:.no-cache-dir": "1",
    ":env:.disable-pip-version-check": "1",
}


def test_pip_settings_become_uv_flags_with_pips_precedence():
    flags, env = uv_settings(SITE)
    pairs = list(zip(flags[::2], flags[1::2], strict=False))
    assert ("--index-url", "https://mirror.example/simple") in pairs
    assert "https://elsewhere.example/simple" not in flags
    assert [v for k, v in pairs if k == "--extra-index-url"] == [
        "file:///opt/pypi/simple",
        "file:///opt/pypi-more/simple",
    ]
    assert [v for k, v in pairs if k == "--find-links"] == ["/srv/wheels"]
    assert ("--allow-insecure-host", "mirror.example") in pairs
    assert ("--constraints", "/etc/xdg/pip/constraints.txt") in pairs
    assert "--no-cache" in flags  # PIP_NO_CACHE_DIR: the cold bench's uv starts as empty as pip
    assert flags[-2:] == ["--index-strategy", "unsafe-best-match"]  # pip's choice over all indexes
    assert env == {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}
    assert uv_settings({":env:.no-index": "1"})[0][0] == "--no-index"
    assert uv_settings({}) == (["--index-strategy", "unsafe-best-match"], {})
    assert uv_settings({":env:.no-index": "0"}) == uv_settings({})
    assert uv_settings(None) is None  # `pip config list` failed: pip installs


def test_a_pip_setting_uv_cannot_follow_means_pip(monkeypatch, tmp_path):
    for untranslatable in ("global.proxy", "global.client-cert", "install.pre", ":env:.only-binary"):
        assert uv_settings({**SITE, untranslatable: "x"}) is None, untranslatable
    monkeypatch.setattr(python_envs, "pip_config", lambda: {"global.proxy": "http://proxy:3128"})
    ctx = SimpleNamespace(bundle=None)
    venv = Venv(tmp_path / "v", "/usr/bin/python3", ["a==1"], ["b==2"])
    _, deps, nodeps = venv.commands(ctx)
    assert deps[:2] == [str(tmp_path / "v" / "bin" / "pip"), "install"] and deps[-1] == "a==1"
    assert nodeps[-2:] == ["--no-deps", "b==2"]
    target = PipTarget(tmp_path / "t", "pyspark==4.0.0", "pyspark").argv(ctx)
    assert target[:4] == [sys.executable, "-m", "pip", "install"] and "--no-compile" in target


def test_uv_installs_into_the_venv_with_pips_settings_and_the_bundle(monkeypatch, tmp_path):
    monkeypatch.setattr(python_envs, "pip_config", lambda: SITE)
    bundle = SimpleNamespace(pip_options=lambda: ["--no-index", "--find-links", "/b/wheels"])
    inst = Installer.for_python(SimpleNamespace(bundle=bundle), str(tmp_path / "v/bin/python"), ["pip"])
    assert inst.argv[1:5] == ["pip", "install", "--python", str(tmp_path / "v/bin/python")]
    assert "--compile-bytecode" in inst.argv  # as pip did: kernels start from .pyc
    assert inst.argv[-3:] == ["--no-index", "--find-links", "/b/wheels"]
    assert inst.env == {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}
    # Spark's tree keeps pip, which copies PyPI's pyspark sdist into place (uv would build a wheel of it)
    target = PipTarget(tmp_path / "t", "pyspark==4.0.0", "pyspark").argv(SimpleNamespace(bundle=None))
    assert target[:4] == [sys.executable, "-m", "pip", "install"] and "--no-compile" in target


def test_jeg_wizard_installer_pip_asks_for_pip(monkeypatch):
    monkeypatch.setenv("JEG_WIZARD_INSTALLER", "pip")
    inst = Installer.for_python(SimpleNamespace(bundle=None), sys.executable, [sys.executable, "-m", "pip"])
    assert inst.argv[:4] == [sys.executable, "-m", "pip", "install"] and inst.env == {}


def test_another_installer_asked_for_is_refused_by_the_gate(monkeypatch, tmp_answers):
    from jeg_wizard import preflight

    monkeypatch.setenv("JEG_WIZARD_INSTALLER", "conda")
    said = preflight.problems(tmp_answers(), need_root=False)
    assert "JEG_WIZARD_INSTALLER: 'conda' is no installer; allowed: uv (the default) or pip" in said, said
    monkeypatch.setenv("JEG_WIZARD_INSTALLER", "pip")
    assert not [p for p in preflight.problems(tmp_answers(), need_root=False) if "INSTALLER" in p]


def test_uv_seeds_the_distributions_venv_with_ensurepips_own_wheels(monkeypatch, tmp_path):
    """ensurepip's pip and setuptools, put in by uv from the distribution's wheel files; ensurepip itself
    for any other python, or with pip as the installer."""
    wheels = tmp_path / "python-wheels"
    wheels.mkdir()
    for name in ("pip-23.0.1-py3-none-any.whl", "pip-9.0.1-py3-none-any.whl", "setuptools-66.1.1-py3-none-any.whl"):
        (wheels / name).write_bytes(b"")
    (wheels / "wheel-0.38.4-py3-none-any.whl").write_bytes(b"")  # not what ensurepip installs
    monkeypatch.setattr(python_envs, "DISTRO_WHEELS", wheels)
    monkeypatch.setattr(python_envs, "uv_bin", lambda: "/opt/jeg-wizard/venv/bin/uv")
    ctx = SimpleNamespace(bundle=None)
    make, deps = Venv(tmp_path / "v", "/usr/bin/python3", ["a==1"]).commands(ctx)
    assert make == ["/usr/bin/python3", "-m", "venv", "--without-pip", str(tmp_path / "v")]
    seeds = [str(wheels / "pip-23.0.1-py3-none-any.whl"), str(wheels / "setuptools-66.1.1-py3-none-any.whl")]
    assert deps[-3:] == [*seeds, "a==1"]
    make, deps = Venv(tmp_path / "v", "/opt/python3.12/bin/python3", ["a==1"]).commands(ctx)
    assert "--without-pip" not in make and deps[-1:] == ["a==1"]  # its own ensurepip
    (wheels / "pip-23.0.1-py3-none-any.whl").unlink()
    (wheels / "pip-9.0.1-py3-none-any.whl").unlink()
    assert python_envs.seed_wheels("/usr/bin/python3") == []  # no pip wheel: ensurepip runs
    monkeypatch.setattr(python_envs, "uv_bin", lambda: None)  # pip installs (JEG_WIZARD_INSTALLER=pip, no uv)
    (wheels / "pip-23.0.1-py3-none-any.whl").write_bytes(b"")
    make, deps = Venv(tmp_path / "v", "/usr/bin/python3", ["a==1"]).commands(ctx)
    assert "--without-pip" not in make and deps[0] == str(tmp_path / "v" / "bin" / "pip")
