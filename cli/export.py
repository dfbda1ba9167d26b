"""Exporting a session to stdout or a file, shared by ``chatlog export`` and ``/export``.

The content comes from the projections (the seed's markdown or snapshot JSON), never from a
second exporter. An output path is resolved from the current directory (the seed's
relative-path bug) and an existing file is never overwritten unless asked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from eventlog import InvalidArgumentError
from eventlog.atomic import write_atomic, write_exclusive
from projections import Projections

EXPORT_FORMATS: Final = ("markdown", "json")


def render_export(
    projections: Projections, session_id: str, fmt: str, at_seq: int | None = None
) -> Iterator[bytes]:
    """The export's bytes, a piece at a time (bounded memory for any session length), of
    the session now or as it was right after its event ``at_seq``. The session is looked
    up at once, so a missing one (or a seq it does not have) raises here."""
    if fmt == "json":
        return projections.snapshot_chunks(session_id, at_seq)
    if fmt == "markdown":
        return (chunk.encode() for chunk in projections.markdown_chunks(session_id, at_seq))
    raise InvalidArgumentError(f"unknown export format {fmt!r} (markdown or json)")


def write_export(output: str, data: Iterable[bytes], *, force: bool) -> Path:
    """Write an export to ``output`` (relative to the cwd); return the absolute path."""
    target = Path(os.path.abspath(os.path.expanduser(output)))
    if not target.parent.is_dir():
        why = "is not a directory" if target.parent.exists() else "does not exist"
        raise InvalidArgumentError(f"cannot write {target}: the directory {target.parent} {why}")
    if target.is_dir():
        raise InvalidArgumentError(f"cannot write {target}: it is a directory")
    if force:
        write_atomic(target, data)
        return target
    try:
        write_exclusive(target, data)
    except FileExistsError:
        raise InvalidArgumentError(
            f"{target} exists already (use --force to overwrite it)"
        ) from None
    return target
