"""The small closed set of typed actions steps are made of, one module per family.

Each says how it knows its end state already holds (`done`), what it would do (`preview`: argv
lines and unified diffs, secrets masked) and does it (`apply`) through the runner, the one seam
for effects. Before its effect it journals a typed record (records.py) that knows its undo.
"""

from .checks import Check, command_check
from .downloads import Download, Extract
from .files import (
    BlockRecord,
    Directory,
    DirRecord,
    EnvBlock,
    FileContent,
    FileGone,
    FileRecord,
    LinkRecord,
    Symlink,
    secret_file,
)
from .jvm import ArchiveRecord, JvmArchive
from .packages import AptInstall, AptUpdate, NpmInstall, PackagesRecord, dpkg_installed
from .python_envs import PipTarget, Venv, VenvRecord
from .records import KINDS, Leftover, Op, Phase, Record, Undo, fold, from_entry
from .services import ServiceRecord, ServiceRunning
from .users import UserAccount, UserRecord, user_exists

__all__ = [
    "AptInstall",
    "ArchiveRecord",
    "AptUpdate",
    "BlockRecord",
    "Check",
    "DirRecord",
    "Directory",
    "Download",
    "EnvBlock",
    "Extract",
    "FileContent",
    "FileGone",
    "FileRecord",
    "JvmArchive",
    "KINDS",
    "Leftover",
    "LinkRecord",
    "NpmInstall",
    "Op",
    "PackagesRecord",
    "Phase",
    "PipTarget",
    "Record",
    "ServiceRecord",
    "ServiceRunning",
    "Symlink",
    "Undo",
    "UserAccount",
    "UserRecord",
    "Venv",
    "VenvRecord",
    "command_check",
    "dpkg_installed",
    "fold",
    "from_entry",
    "secret_file",
    "user_exists",
]
