"""One import: detect the format, read the source unit by unit, write, summarise.

A source with several files (a directory of transcripts or session files) goes on past
a file it cannot read, reporting it as a problem; a source that is one file raises
:class:`ImportFormatError` when that file cannot be read, and nothing is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from cli.importers.progress import ImportProgress, is_wanted
from cli.importers.records import ImportFormatError, NotThisFormat, Parsed, Problem, Skipped
from cli.importers.sources import Unit, detect, units_for
from cli.importers.summary import Summary
from cli.importers.writer import Writer
from eventlog import ChatlogError, EventLog, EventStore, HomeLayout, resolve_home
from projections import Projections


def _load(unit: Unit, several: bool) -> Parsed:
    try:
        parsed = unit.load()
    except NotThisFormat as exc:
        if not several:
            raise
        reason = str(exc).removeprefix(f"{unit.label}: ").split(" (", 1)[0]
        return Parsed(skipped=(Skipped(unit.label, f"{reason} (another format)"),))
    except ImportFormatError as exc:
        if not several:
            raise
        return Parsed(problems=(Problem(unit.label, str(exc).removeprefix(f"{unit.label}: ")),))
    except OSError as exc:
        problem = Problem(unit.label, f"cannot read it ({exc.strerror or exc})")
        if not several:
            raise ImportFormatError(problem.describe()) from None
        return Parsed(problems=(problem,))
    if not several and parsed.problems and not parsed.conversations:
        # one file, nothing readable in it: one line saying why, not a line per problem
        first = parsed.problems[0]
        more = len(parsed.problems) - 1
        raise ImportFormatError(
            f"{first.describe()}; nothing imported"
            + (f" ({more} more problem{'s' if more > 1 else ''} like it)" if more else "")
        )
    return parsed


class Import:
    """An import of ``path`` into the home ``home``, or into another store.

    ``log`` is the store to write with, or ``store`` a function that opens it when the
    first conversation is written; either is left open for its owner. Default: the file
    store on ``home`` without per-append fsync, everything made durable at the end,
    secrets redacted unless ``redact_secrets`` is False, closed when done. ``dry_run``
    reads and writes nothing.
    """

    def __init__(
        self,
        path: Path,
        home: Path | None = None,
        fmt: str | None = None,
        *,
        dry_run: bool = False,
        log: EventStore | None = None,
        store: Callable[[], EventStore] | None = None,
        redact_secrets: bool = True,
    ) -> None:
        self.path = path.expanduser().absolute()
        self.home = resolve_home(home)
        self.format = fmt or detect(self.path)
        self.units = units_for(self.format, self.path)
        self.dry_run = dry_run
        self.summary = Summary(self.format, str(self.path), dry_run)
        self._log = log
        self._store = store
        self.redact_secrets = redact_secrets

    def _open_log(self) -> EventStore | None:
        """The store to write with; in a dry run one to read with, or None when there is
        no home yet (a dry run creates nothing, and there is nothing to read)."""
        if self._log is not None:
            return self._log
        if self._store is not None:
            self._log = self._store()
            return self._log
        if self.dry_run and not HomeLayout(self.home).events_dir.is_dir():
            return None
        return EventLog(self.home, fsync="never", redact_secrets=self.redact_secrets)

    def _index(self, log: EventStore | None) -> Projections | None:
        """The projections where imported sessions are looked up by key (see
        :mod:`cli.importers.known`): none in a dry run (it writes nothing, the projections
        included) or before they were ever built."""
        layout = HomeLayout(self.home)
        if log is None or self.dry_run or not layout.projections_db.exists():
            return None
        return Projections(log, layout=layout)

    def run(self, progress: TextIO | None = None, durable: bool = True) -> Summary:
        """Import everything; ``progress`` is a stream for the progress bar when wanted.

        The home is opened when the first conversation is written: a source refused
        before that leaves no trace, not even a new home directory."""
        log: EventStore | None = None
        index: Projections | None = None
        writer: Writer | None = None
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
                    if writer is None:
                        log = self._open_log()
                        index = self._index(log)
                        writer = Writer(None if self.dry_run else log, log, index=index)
                    self.summary.add(writer.write(conversation))
                    bar.conversation()
        except ImportFormatError:
            raise
        except ChatlogError as exc:
            self.summary.stopped = str(exc)
            if writer is not None and writer.partial is not None:
                self.summary.add(writer.partial)
            raise
        finally:
            bar.close()
            if writer is not None:
                writer.finish(durable=durable)
            if index is not None:
                index.close()
            if log is not None and self._log is None:
                log.close()
        return self.summary
