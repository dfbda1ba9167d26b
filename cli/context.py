"""What every command handler gets: the resolved home, and the stores opened lazily."""

from __future__ import annotations

import argparse
import sys
from functools import cached_property
from pathlib import Path
from typing import TextIO

from eventlog import EventLog, FsyncPolicy, HomeLayout, resolve_home
from projections.safe_text import terminal_safe


class Context:
    def __init__(
        self,
        home: str | None,
        fsync: FsyncPolicy = "always",
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.home: Path = resolve_home(home)
        self.fsync: FsyncPolicy = fsync
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        return cls(args.home, args.fsync)

    @cached_property
    def layout(self) -> HomeLayout:
        """The home's file layout (projections live there whatever the store)."""
        return HomeLayout(self.home)

    @cached_property
    def log(self) -> EventLog:
        return EventLog(self.home, fsync=self.fsync)

    def close(self) -> None:
        if "log" in self.__dict__:
            self.log.close()

    def out(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def err(self, text: str) -> None:
        """A line for the user on stderr (quoted names and titles: terminal-safe)."""
        print(terminal_safe(text), file=self.stderr)
