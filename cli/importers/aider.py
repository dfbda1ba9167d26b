"""aider chat histories: ``.aider.chat.history.md`` in each project aider ran in.

aider appends markdown to the file as the chat goes: ``# aider chat started at
YYYY-MM-DD HH:MM:SS`` (local time) opens each run, ``#### `` lines are what the user typed
(several in a row are one multi-line input), ``> `` lines are aider's own output (command
results, warnings, "Added x to the chat": kept as ``tool`` messages from ``aider``) and
everything else is the model's reply, including every line of a fenced block in it; a
blank line ends an input or an output. aider ends lines with two spaces (a markdown line
break); they are dropped. Each run becomes one session; a run holding no input and no
reply (aider started and quit) is skipped. The history has no per-message times: every
message of a run carries the run's start time. The ``Tokens: N sent, M received`` line
aider prints after a reply gives that reply's token count (``1.1k``: rounded as aider
shows it). A message's identity is its first line's number (the file only grows), a run's
is the file's path and its start time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import msgspec

from cli.importers.inputs import Line
from cli.importers.records import (
    ImportedConversation,
    ImportedMessage,
    Parsed,
    Problem,
    Skipped,
)
from cli.importers.timestamps import from_iso, now_iso

SOURCE: Final = "aider"
HISTORY_NAME: Final = ".aider.chat.history.md"
HEADER: Final = "# aider chat started at "
USER: Final = "#### "
OUTPUT: Final = ">"
_TOKENS = re.compile(r"^Tokens: ([0-9][0-9.,]*k?) sent, ([0-9][0-9.,]*k?) received", re.M)


def _count(text: str) -> int:
    """``604`` -> 604, ``5,244`` -> 5244, ``1.1k`` -> 1100."""
    number = text.replace(",", "")
    if number.endswith("k"):
        return round(float(number[:-1]) * 1000)
    return int(float(number))


def _kind(text: str) -> str:
    if text.startswith(USER) or text == USER.rstrip():
        return "user"
    if text.startswith(OUTPUT):
        return "tool"
    return "assistant"


def _strip(text: str, kind: str) -> str:
    if kind == "user":
        text = text[len(USER) :] if text.startswith(USER) else ""
    elif kind == "tool":
        text = text[2:] if text.startswith("> ") else text[1:]
    return text.removesuffix("  ")


class _Run:
    def __init__(self, number: int, started: str | None, raw_start: str) -> None:
        self.number = number
        self.started = started
        self.raw_start = raw_start
        self.messages: list[ImportedMessage] = []
        self.kind: str | None = None
        self.first = 0
        self.lines: list[str] = []
        self.in_fence = False

    def flush(self) -> None:
        if self.kind is None:
            return
        text = "\n".join(self.lines).strip("\n")
        if self.kind == "tool":
            text = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
        if text.strip():
            metadata: dict[str, Any] = {"source_id": f"line:{self.first}"}
            if self.kind == "tool":
                metadata["tool_name"] = "aider"
                self._count_tokens(text)
            self.messages.append(
                ImportedMessage(
                    role="user" if self.kind == "user" else self.kind,  # type: ignore[arg-type]
                    content=text,
                    ts=self.started,
                    metadata=metadata,
                )
            )
        self.kind, self.lines = None, []

    def _count_tokens(self, output: str) -> None:
        """aider reports ``Tokens: 5,244 sent, 604 received.`` after each reply: the
        received count becomes the reply's token count (``1.1k`` is read as 1100)."""
        match = _TOKENS.search(output)
        reply = self.messages[-1] if self.messages else None
        if match is None or reply is None or reply.role != "assistant":
            return
        metadata = {**reply.metadata, "tokens_sent": match[1], "tokens_received": match[2]}
        self.messages[-1] = msgspec.structs.replace(
            reply, token_count=_count(match[2]), metadata=metadata
        )

    def add(self, number: int, text: str) -> None:
        # Inside a fenced block of a reply every line is the reply's, whatever it starts
        # with (an edit's ">>>>>>> REPLACE" is not aider output).
        kind = "assistant" if self.in_fence else _kind(text)
        if kind == "assistant" and text.lstrip().startswith(("```", "~~~")):
            self.in_fence = not self.in_fence
        if kind == self.kind:
            self.lines.append(_strip(text, kind))
            return
        if kind == "assistant" and not text.strip():
            if self.kind == "assistant":
                self.lines.append("")  # a blank line inside the reply
            else:
                self.flush()  # a blank line ends an input or an output
            return
        self.flush()
        self.kind, self.first, self.lines = kind, number, [_strip(text, kind)]


def parse_history(lines: Iterable[Line], path: str) -> Parsed:
    """A whole chat history file: one conversation per run that holds messages."""
    runs: list[_Run] = []
    skipped: list[Skipped] = []
    problems: list[Problem] = []
    preamble = False
    for line in lines:
        if line.too_long:
            problems.append(Problem(f"{path}:{line.number}", "line too long, skipped"))
            continue
        text = line.data.decode("utf-8", "replace").rstrip("\r")
        if text.startswith(HEADER):
            if runs:
                runs[-1].flush()
            raw = text[len(HEADER) :].strip()
            runs.append(_Run(line.number, from_iso(raw, "local"), raw))
            continue
        if not runs:
            if text.strip() and not preamble:
                preamble = True
                skipped.append(Skipped(f"{path}:{line.number}", "text before the first run"))
            continue
        runs[-1].add(line.number, text)
    if runs:
        runs[-1].flush()
    conversations: list[ImportedConversation] = []
    for run in runs:
        where = f"{path}:{run.number}"
        if not any(m.role in ("user", "assistant") for m in run.messages):
            skipped.append(Skipped(where, "run without input or reply"))
            continue
        conversations.append(
            ImportedConversation(
                source=SOURCE,
                key=f"{SOURCE}:{path}:{run.raw_start}",
                path=path,
                title=None,
                created_at=run.started or now_iso(),
                tags=(SOURCE,),
                messages=tuple(run.messages),
                origin={"started_at": run.raw_start, "line": run.number},
            )
        )
    return Parsed(tuple(conversations), tuple(skipped), tuple(problems))
