"""The settings of one running ``network-opt app``: where it keeps its data, where it listens, the
token and the limits."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

#: Default port of ``network-opt app``.
DEFAULT_PORT = 8050
#: Largest upload (a workbook or a zipped instance folder), bytes.
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: Most files and bytes a zipped instance may expand to.
MAX_ZIP_MEMBERS = 200
MAX_ZIP_BYTES = 512 * 1024 * 1024
#: Jobs run at once (the others wait, queued, in the job list).
DEFAULT_MAX_JOBS = 1


def default_data_dir() -> Path:
    """The per-user folder of the app's workspaces, jobs and job table: ``$NETWORK_OPT_APP_DATA``
    or ``~/.network-opt/app``."""
    env = os.environ.get("NETWORK_OPT_APP_DATA")
    return Path(env) if env else Path.home() / ".network-opt" / "app"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def shipped_instances_dir() -> Path | None:
    """The ``instances`` folder of the source tree (the shipped instances), when installed from it."""
    env = os.environ.get("NETWORK_OPT_INSTANCES")
    if env:
        return Path(env)
    path = Path(__file__).resolve().parents[2] / "instances"
    return path if path.is_dir() else None


@dataclass
class AppConfig:
    """One app's settings.

    ``token``: required on every request when set (always set when ``host`` is not a loopback
    address: :meth:`resolved`). ``max_upload_bytes``: the largest request body accepted on an
    upload. ``max_jobs``: jobs run at once. ``allow_folders``: whether a folder on this machine
    may be opened by its path (only when the app listens on a loopback address).
    """

    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_jobs: int = DEFAULT_MAX_JOBS
    instances_dir: Path | None = field(default_factory=shipped_instances_dir)
    allow_folders: bool = True
    #: seconds between two looks at the running jobs (start queued ones, notice crashed ones)
    poll_s: float = 0.5

    def resolved(self) -> AppConfig:
        """This config with a token generated when the app listens beyond this machine and none was
        given, and opening folders by path switched off there."""
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        if not is_loopback(self.host):
            self.allow_folders = False
            if not self.token:
                self.token = secrets.token_urlsafe(24)
        return self
