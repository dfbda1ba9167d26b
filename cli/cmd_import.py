"""``chatlog import PATH``: bring in histories kept by other tools (see cli/importers/).

Prints a summary (``--json`` for a JSON one). Input that could not be read is named on
stderr, one line per problem, and the exit code is 2; what could be read is imported all
the same. A source that is a single unreadable file (a truncated ``conversations.json``)
imports nothing: one error line, exit code 2. If writing fails mid-way (disk full), the
summary says how far it got; running the same import again completes it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cli.context import Context
from cli.importers.records import FORMATS, ImportFormatError
from cli.output import to_json
from eventlog import ChatlogError
from projections.safe_text import terminal_safe

if TYPE_CHECKING:
    from cli.importers.summary import Summary


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import",
        help="import history from Codex CLI, Claude Code, aider, llm, ChatGPT, Claude.ai "
        "or OpenAgent Terminal (seed)",
        description="Import conversations kept by other tools; running it again adds only "
        "what is new. The format is detected when --from is omitted.",
    )
    parser.add_argument("path", metavar="PATH", help="file or directory to import")
    parser.add_argument(
        "--from",
        dest="source",
        choices=FORMATS,
        help="the source format (default: detected); seed is OpenAgent Terminal's own "
        "session files (~/.config/openagent-terminal/sessions/), which chatlog replaces",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be imported; write nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--no-redact",
        action="store_true",
        help="store secrets as they are (default: replaced by [REDACTED:<kind>])",
    )
    parser.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace, ctx: Context) -> int:
    from cli.importers.run import Import  # parsers and rich load only when importing

    job = Import(
        Path(args.path),
        ctx.home,
        args.source,
        dry_run=args.dry_run,
        # The home's files are opened by the import itself (no fsync per append, one sync
        # at the end); a store set with --store is written as it stands.
        store=(lambda: ctx.log) if ctx.store_url else None,
        redact_secrets=ctx.redact_secrets,
    )
    try:
        job.run(progress=ctx.stderr, durable=ctx.fsync != "never")
    except ImportFormatError:
        raise  # the source could not be read: nothing was imported, one error line
    except ChatlogError:
        _report(ctx, job.summary, args.json)  # how far it got before writing failed
        raise
    _report(ctx, job.summary, args.json)
    return 2 if job.summary.problems else 0


def _report(ctx: Context, summary: Summary, as_json: bool) -> None:
    if as_json:
        ctx.out(to_json(summary.as_dict(), pretty=True))
    else:
        for line in summary.lines():
            ctx.out(terminal_safe(line))  # file names and notes come from the source
    ctx.stdout.flush()
    for problem in summary.problems:
        ctx.err(f"chatlog: error: {problem.describe()}")
