"""The import summary: what was imported, what was already there, what was left out."""

from __future__ import annotations

from collections import Counter
from typing import Any

from cli.importers.records import Parsed, Problem
from cli.importers.writer import Outcome

STATUSES = ("imported", "completed", "present", "conflict")
WORDS = {
    "imported": ("imported", "to import"),
    "completed": ("completed (added to an earlier import)", "to complete"),
    "present": ("already present", "already present"),
    "conflict": ("left alone (differ from the source)", "differ from the source"),
}


class Summary:
    def __init__(self, fmt: str, path: str, dry_run: bool) -> None:
        self.format = fmt
        self.path = path
        self.dry_run = dry_run
        self.outcomes: list[Outcome] = []
        self.skipped: Counter[str] = Counter()
        self.problems: list[Problem] = []
        self.stopped: str | None = None  # why the run ended early, if it did
        self.source_messages = 0  # messages found in the source, imported or not

    def add_parsed(self, parsed: Parsed) -> None:
        self.skipped.update(item.reason for item in parsed.skipped)
        self.problems += parsed.problems
        self.source_messages += sum(len(c.messages) - c.shared for c in parsed.conversations)

    @property
    def holds_no_messages(self) -> bool:
        """The source was read without problems and truly holds no message."""
        return self.source_messages == 0 and not self.problems and self.stopped is None

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def messages(self) -> int:
        return sum(o.messages for o in self.outcomes)

    @property
    def tokens(self) -> int:
        return sum(o.tokens for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "path": self.path,
            "dry_run": self.dry_run,
            "sessions": {status: self.count(status) for status in STATUSES},
            "messages": self.messages,
            "tokens": self.tokens,
            "source_messages": self.source_messages,
            "skipped": dict(self.skipped.most_common()),
            "problems": [{"where": p.where, "message": p.message} for p in self.problems],
            "stopped": self.stopped,
            "conversations": [
                {
                    "key": o.key,
                    "session_id": o.session_id,
                    "status": o.status,
                    "title": o.title,
                    "messages": o.messages,
                    "tokens": o.tokens,
                    **({"note": o.note} if o.note else {}),
                }
                for o in self.outcomes
            ],
        }

    def lines(self) -> list[str]:
        mode = 1 if self.dry_run else 0
        counts = ", ".join(
            f"{self.count(status)} {WORDS[status][mode]}"
            for status in STATUSES
            if self.count(status) or status == "imported"
        )
        head = f"{self.format} import from {self.path}"
        out = [
            head + (" (dry run: nothing written)" if self.dry_run else ""),
            f"  sessions  {counts}",
            f"  messages  {self.messages:,} {WORDS['imported'][mode]} ({self.tokens:,} tokens)",
        ]
        total = sum(self.skipped.values())
        out.append(f"  skipped   {total:,} item{'' if total == 1 else 's'}")
        width = len(f"{max(self.skipped.values(), default=0):,}")
        out += [f"    {n:>{width},}  {reason}" for reason, n in self.skipped.most_common()]
        if self.holds_no_messages:
            out.append("  note      the source holds no messages: nothing to import")
        if self.problems:
            out.append(f"  problems  {len(self.problems)}, listed on stderr (not imported)")
        out += [
            f"  conflict  {o.session_id}: {o.note}" for o in self.outcomes if o.status == "conflict"
        ]
        if self.stopped:
            out.append(f"  stopped   {self.stopped}; run the same import again to complete it")
        return out
