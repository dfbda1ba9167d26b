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
    io_threads: int = 16  # threads running log calls (appends, reads)
    follower_readers: int = 2  # subscriptions reading their logs at the same time
    # Seconds, on shutdown, for requests being answered to finish and for clients to read
    # what is queued for them; then connections still open are dropped. The whole shutdown
    # stays under 2 s whatever clients do (stalled readers included).
    shutdown_grace: float = 1.0
