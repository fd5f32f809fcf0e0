import subprocess
import sys


def test_engine_imports_without_textual():
    code = (
        "import sys, jeg_wizard.engine, jeg_wizard.cli, jeg_wizard.steps, jeg_wizard.health;"
        "bad=[m for m in sys.modules if m.split('.')[0]=='textual'];print(bad);sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_version_and_help_import_neither_pydantic_nor_textual():
    """They answer at once: what the launcher script runs, then every module it loaded, checked."""
    for arg in ("--version", "--help"):
        code = (
            "import sys\nfrom jeg_wizard.cli import main\n"
            f"try:\n    main([{arg!r}])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        loaded = r.stderr.split()
        assert "jeg_wizard.cli" in loaded, r.stderr
        heavy = sorted(m for m in loaded if m.split(".")[0] in ("pydantic", "pydantic_core", "textual"))
        assert not heavy, f"{arg} imported {heavy}"
