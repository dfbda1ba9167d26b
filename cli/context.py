"""What every command handler gets: the resolved home, and the stores opened lazily.

Which event store: ``--store URL`` > ``CHATLOG_STORE`` > ``store =`` in config.toml > the
local file store under the home. A ``nats://`` URL opens the JetStream store (the
``openagent-chatlog[nats]`` extra); projections always stay local, under the home.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import cached_property
from pathlib import Path
from typing import TextIO

from eventlog import EventLog, FsyncPolicy, HomeLayout, InvalidArgumentError, resolve_home
from eventlog.store import EventStore
from projections.safe_text import terminal_safe


class Context:
    def __init__(
        self,
        home: str | None,
        fsync: FsyncPolicy = "always",
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        store: str | None = None,
    ) -> None:
        self.home: Path = resolve_home(home)
        self.fsync: FsyncPolicy = fsync
        self._store_flag = store
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.no_redact = False  # --no-redact: store secrets as they are

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        ctx = cls(args.home, args.fsync, store=getattr(args, "store", None))
        ctx.no_redact = bool(getattr(args, "no_redact", False))
        return ctx

    @cached_property
    def store_url(self) -> str | None:
        """The store URL in force (None: the local file store); read when first needed."""
        return store_setting(self._store_flag)

    @property
    def store_flag(self) -> str | None:
        """The ``--store`` option as given (None: the store comes from CHATLOG_STORE,
        config.toml or the home)."""
        return self._store_flag

    @cached_property
    def log(self) -> EventStore:
        """The event store: the JetStream store a URL names, else the local file store.
        The home is prepared either way (projections, the REPL's history and the server's
        socket stay there whatever the store)."""
        if self.store_url:
            self.layout.ensure()
            return open_store(self.store_url, redact_secrets=self.redact_secrets)
        return EventLog(self.home, fsync=self.fsync, redact_secrets=self.redact_secrets)

    @cached_property
    def redact_secrets(self) -> bool:
        """Whether stored messages are redacted: yes unless ``--no-redact`` or
        ``redact_secrets = false`` in config.toml (a config.toml that cannot be read
        leaves it on; commands that use that file report why)."""
        if self.no_redact:
            return False
        from cli.backends.config import default_config_path, load_file_config
        from eventlog import ChatlogError

        try:
            return load_file_config(default_config_path()).redact_secrets
        except ChatlogError:
            return True

    @cached_property
    def layout(self) -> HomeLayout:
        """The home's file layout (projections live there whatever the store)."""
        return HomeLayout(self.home)

    def close(self) -> None:
        if "log" in self.__dict__:
            self.log.close()

    def out(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def err(self, text: str) -> None:
        """A line for the user on stderr (quoted names and titles: terminal-safe)."""
        print(terminal_safe(text), file=self.stderr)


def store_setting(flag: str | None, env: dict[str, str] | None = None) -> str | None:
    """The store URL in force (None: the local file store)."""
    if flag:
        return flag
    chosen = (os.environ if env is None else env).get("CHATLOG_STORE")
    if chosen is not None:
        return chosen or None  # set but empty: the local file store
    from cli.backends.config import default_config_path, load_file_config

    return load_file_config(default_config_path()).store or None


def open_store(url: str, *, redact_secrets: bool = True) -> EventStore:
    """The store a URL names (``nats://`` or ``tls://``: NATS JetStream); with
    ``redact_secrets`` its appends are redacted as the file store's are."""
    from eventlog.jetstream_url import is_store_url

    if not is_store_url(url):
        raise InvalidArgumentError(
            f"not a store URL: {url!r} (expected nats://host:port[,nats://...][?stream=NAME])"
        )
    try:
        from eventlog.jetstream import JetStreamStore
    except ImportError as exc:
        raise InvalidArgumentError(
            f"a NATS store needs nats-py ({exc}): pip install 'openagent-chatlog[nats]'"
        ) from exc
    return JetStreamStore(url, redact_secrets=redact_secrets)
