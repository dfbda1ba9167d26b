"""The one progress bar: drawn on a terminal's stderr while long work runs, gone after.

``rebuild`` (sessions or bytes read) and ``import`` (files and conversations) differ
only in the counts shown beside the bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # rich is imported only when a bar is really drawn
    from rich.progress import Progress, ProgressColumn


def transient_bar(stream: TextIO, label: str, *counts: ProgressColumn) -> Progress:
    """A started bar on ``stream``: ``label``, the bar, ``counts``, the time elapsed.
    Stopping it erases it, so only the command's own summary stays on screen."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        *counts,
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,
    )
    bar.start()
    return bar
