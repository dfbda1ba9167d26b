"""Checks of caller-supplied text before it becomes part of an event."""

from __future__ import annotations

from collections.abc import Sequence

from eventlog.errors import InvalidArgumentError

MAX_TAG_LENGTH = 100


def check_text(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a string")
    if "\x00" in value and name != "content":
        raise InvalidArgumentError(f"{name} must not contain NUL characters")


def clean_tags(tags: Sequence[str]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for tag in tags:
        if (
            not isinstance(tag, str)
            or not tag.strip()
            or len(tag) > MAX_TAG_LENGTH
            or "\x00" in tag
        ):
            raise InvalidArgumentError(f"invalid tag {tag!r} (1-100 characters, no NUL)")
        if tag.strip() not in cleaned:
            cleaned.append(tag.strip())
    return tuple(cleaned)
