import subprocess
import sys


def test_engine_imports_without_textual():
    code = (
        "import sys, jeg_wizard.engine, jeg_wizard.cli, jeg_wizard.steps, jeg_wizard.health;"
        "bad=[m for m in sys.modules if m.split('.')[0]=='textual'];print(bad);sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
