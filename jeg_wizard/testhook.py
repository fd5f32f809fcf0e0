"""Test-only pause points, so an end-to-end test can `kill -9` the install at a known place.

Set JEG_WIZARD_TEST_PAUSE_AT=<substring>: the install stops (sleeps until killed) at the first
pause point whose label contains it. Labels:
  "step <id>"              a step is about to start (a step boundary)
  "before <action title>"  an action with work to do is about to run
  "mid <action title>"     inside an action: FileContent/EnvBlock backed up and journaled, not yet
                           written; UserAccount created, password not yet set; ServiceRunning
                           started, not yet answering
  "after <action title>"   an action finished, before the engine journals it
  "rename <path>"          atomic_write: the temp file is complete, not yet renamed over <path>
JEG_WIZARD_TEST_PAUSE_FILE=<path>, when set, receives the label when the pause begins.
Unset (always, outside tests), nothing happens.
"""

from __future__ import annotations

import os
import time


def pause(label: str) -> None:
    want = os.environ.get("JEG_WIZARD_TEST_PAUSE_AT")
    if not want or want not in label:
        return
    note = os.environ.get("JEG_WIZARD_TEST_PAUSE_FILE")
    if note:
        with open(note, "w") as f:
            f.write(label + "\n")
    while True:
        time.sleep(3600)


def fail(label: str) -> None:
    """JEG_WIZARD_TEST_FAIL_AT=<substring>: raise at the first failure point whose label contains it (an
    injected fault, for the rollback tests). Labels: "upgrade built", "upgrade switched", "upgrade started"."""
    want = os.environ.get("JEG_WIZARD_TEST_FAIL_AT")
    if want and want in label:
        raise RuntimeError(f"injected failure ({label}; JEG_WIZARD_TEST_FAIL_AT)")
