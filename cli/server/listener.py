"""Claiming the server's socket path safely.

- The socket is bound with a 0177 umask and then chmod'ed 0600, so it is never reachable
  by other users, even for an instant. A missing parent directory is created 0700; an
  existing one that others can enter gets a warning (the socket's own mode still guards it).
- An existing path is tested by connecting to it: a live server there means this one
  refuses to start; a dead socket file (a crashed server's) is replaced; anything that is
  not a socket is never touched.
- Between the test and the bind, an exclusive ``flock`` on ``<socket>.lock`` (kept for the
  server's lifetime; the file itself is left in place) makes two servers starting at once
  agree on a single winner.
- On shutdown the socket file is removed only if it is still the one this server bound.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import stat
from pathlib import Path

from eventlog import ChatlogError
from eventlog.home import FILE_MODE, ensure_private_dir

logger = logging.getLogger("chatlog.server")

SOCKET_UMASK = 0o177
LISTEN_BACKLOG = 128


class ServerStartError(ChatlogError):
    """The server cannot listen on its socket path (another server is live there, the path
    is not a socket, or it cannot be bound)."""


class ClaimedSocket:
    """A bound, listening Unix socket and the lock that makes its path ours."""

    def __init__(self, sock: socket.socket, path: Path, lock_fd: int) -> None:
        self.sock = sock
        self.path = path
        self._lock_fd = lock_fd
        self._inode = os.stat(path).st_ino

    def release(self) -> None:
        """Remove the socket file (if it is still ours), close the socket, drop the lock."""
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        self.sock.close()
        os.close(self._lock_fd)


def claim_socket(path: Path) -> ClaimedSocket:
    _prepare_directory(path.parent)
    _refuse_if_in_use(path)
    lock_fd = _take_lock(path)
    try:
        _refuse_if_in_use(path)  # re-checked under the lock: a server may have just started
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            logger.warning("replaced the stale socket %s (left by a server that has exited)", path)
        sock = _bind(path)
    except BaseException:
        os.close(lock_fd)
        raise
    return ClaimedSocket(sock, path, lock_fd)


def _prepare_directory(directory: Path) -> None:
    if not directory.exists():
        ensure_private_dir(directory)
        return
    if directory.stat().st_mode & 0o077:
        logger.warning(
            "%s is accessible to other users; the socket itself is private (0600)", directory
        )


def is_live(path: Path) -> bool:
    """Whether a server accepts connections on ``path`` (False for a dead socket file)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError as exc:
        raise ServerStartError(f"cannot check the socket {path}: {exc.strerror or exc}") from exc
    finally:
        probe.close()
    return True


def _refuse_if_in_use(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ServerStartError(f"{path} exists and is not a socket; refusing to replace it")
    if is_live(path):
        raise ServerStartError(
            f"another chatlog server is already listening on {path} (stop it first, "
            "or pass --socket to use another path)"
        )


def _take_lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        raise ServerStartError(f"cannot open {lock_path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise ServerStartError(
                f"another chatlog server is starting on {path} (it holds {lock_path})"
            ) from None
        raise ServerStartError(f"cannot lock {lock_path}: {exc.strerror or exc}") from exc
    return fd


def _bind(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(SOCKET_UMASK)
    try:
        sock.bind(str(path))
        os.chmod(path, FILE_MODE)
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ServerStartError(f"cannot listen on {path}: {exc.strerror or exc}") from exc
    finally:
        os.umask(old_umask)
    sock.setblocking(False)
    return sock
