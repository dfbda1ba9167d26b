"""A progress bar on stderr for large imports, and nothing for small ones.

Shown only when stderr is a terminal and the import is large (many files or many
bytes), so pipes, logs and quick imports stay clean. The bar counts files read; each
file's conversations advance it in fractions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TextIO

from rich.progress import MofNCompleteColumn, Progress, TextColumn

from cli.importers.sources import Unit
from cli.output import is_terminal
from cli.progress import transient_bar

LARGE_UNITS: Final = 20
LARGE_BYTES: Final = 1024 * 1024


class ImportProgress:
    """Progress of an import; a no-op unless :func:`is_wanted`."""

    def __init__(self, stream: TextIO | None, units: Sequence[Unit]) -> None:
        self._bar: Progress | None = None
        self._step = 1.0
        self._conversations = 0
        if stream is None:
            return
        self._bar = transient_bar(
            stream,
            "importing",
            MofNCompleteColumn(),
            TextColumn("files, {task.fields[conversations]} conversations"),
        )
        self._task = self._bar.add_task("import", total=len(units), conversations=0)

    def unit(self, conversations: int) -> None:
        """A file was parsed and holds ``conversations`` conversations."""
        self._step = 1.0 / conversations if conversations else 1.0
        if self._bar is not None and not conversations:
            self._bar.advance(self._task, 1.0)

    def conversation(self) -> None:
        self._conversations += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=self._step, conversations=self._conversations)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def is_wanted(stream: TextIO, units: Sequence[Unit]) -> bool:
    return is_terminal(stream) and (
        len(units) >= LARGE_UNITS or sum(u.size for u in units) >= LARGE_BYTES
    )
