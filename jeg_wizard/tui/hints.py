"""One line of advice for a failed step, from what its error says (the full log is on disk)."""

from __future__ import annotations

HINTS = (
    (
        (
            "Temporary failure resolving",
            "Could not resolve",
            "Name or service not known",
            "Network is unreachable",
            "ConnectTimeout",
            "Connection timed out",
        ),
        "the network looks unreachable: check DNS, a proxy (https_proxy) or the mirrors, then Retry",
    ),
    (("No space left on device",), "the disk is full: free space (df -h), then Retry"),
    (("Permission denied", "Operation not permitted", "run as root"), "run the wizard as root (sudo), then resume"),
    (
        ("Could not get lock", "dpkg was interrupted", "Unable to acquire the dpkg frontend lock"),
        "another apt/dpkg is running or was interrupted: wait, or run `dpkg --configure -a`, then Retry",
    ),
    (
        ("already in use", "Address already in use"),
        "a port is taken: stop that program or go back and choose another port",
    ),
    (
        # pip's words, then uv's
        (
            "No matching distribution",
            "Could not find a version",
            "there is no version of",
            "not found in the package registry",
        ),
        "pip cannot find that version: check the version and the index",
    ),
    (("HTTP 404", "404 Not Found"), "a download URL does not exist: check the version or the URL"),
    (("sha512",), "the download does not match its checksum: check spark.sha512 or download again"),
)


def hint(error: str) -> str:
    for needles, advice in HINTS:
        if any(n in error for n in needles):
            return advice
    return "fix the cause (see the log), then Retry; or Quit: a re-run resumes here"
