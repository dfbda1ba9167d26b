"""The server's settings (importing this module loads nothing else of the server)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

MiB: Final = 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    socket_path: Path
    max_frame: int = 8 * MiB  # longest request line accepted, in bytes
    send_buffer: int = 1 * MiB  # bytes queued per client before its producers wait
    io_threads: int = 16  # threads running log calls (appends, scans)
    shutdown_grace: float = 5.0  # seconds to finish requests and flush on shutdown
