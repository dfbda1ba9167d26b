"""One import: detect the format, read the source unit by unit, write, summarise.

A source with several files (a directory of transcripts or session files) goes on past
a file it cannot read, reporting it as a problem; a source that is one file raises
:class:`ImportFormatError` when that file cannot be read, and nothing is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from cli.importers.progress import ImportProgress, is_wanted
from cli.importers.records import ImportFormatError, Parsed, Problem
from cli.importers.sources import Unit, detect, units_for
from cli.importers.summary import Summary
from cli.importers.writer import Writer
from eventlog import ChatlogError, EventLog, HomeLayout, resolve_home


def _load(unit: Unit, several: bool) -> Parsed:
    try:
        return unit.load()
    except ImportFormatError as exc:
        if not several:
            raise
        return Parsed(problems=(Problem(unit.label, str(exc).removeprefix(f"{unit.label}: ")),))
    except OSError as exc:
        problem = Problem(unit.label, f"cannot read it ({exc.strerror or exc})")
        if not several:
            raise ImportFormatError(problem.describe()) from None
        return Parsed(problems=(problem,))


class Import:
    """An import of ``path`` into the home ``home``.

    ``log`` is the EventLog to write with (default: one on ``home`` without per-append
    fsync; everything is made durable at the end). ``dry_run`` reads and writes nothing.
    """

    def __init__(
        self,
        path: Path,
        home: Path | None = None,
        fmt: str | None = None,
        *,
        dry_run: bool = False,
        log: EventLog | None = None,
    ) -> None:
        self.path = path.expanduser().absolute()
        self.home = resolve_home(home)
        self.format = fmt or detect(self.path)
        self.units = units_for(self.format, self.path)
        self.dry_run = dry_run
        self.summary = Summary(self.format, str(self.path), dry_run)
        self._log = log

    def run(self, progress: TextIO | None = None, durable: bool = True) -> Summary:
        """Import everything; ``progress`` is a stream for the progress bar when wanted."""
        owned = self._log is None and not self.dry_run
        log = None if self.dry_run else (self._log or EventLog(self.home, fsync="never"))
        writer = Writer(HomeLayout(self.home), log)
        bar = ImportProgress(
            progress if progress is not None and is_wanted(progress, self.units) else None,
            self.units,
        )
        several = len(self.units) > 1
        try:
            for unit in self.units:
                parsed = _load(unit, several)
                self.summary.add_parsed(parsed)
                bar.unit(len(parsed.conversations))
                for conversation in parsed.conversations:
                    self.summary.add(writer.write(conversation))
                    bar.conversation()
        except ImportFormatError:
            raise
        except ChatlogError as exc:
            self.summary.stopped = str(exc)
            raise
        finally:
            bar.close()
            writer.finish(durable=durable)
            if owned and log is not None:
                log.close()
        return self.summary
