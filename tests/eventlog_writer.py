"""A separate writer process for the crash and concurrency tests.

It appends to one session through the real :class:`eventlog.EventLog` and reports each
acknowledged seq on stdout, flushed right after ``append`` returns, so the parent knows
exactly which appends were acknowledged before it killed the process::

    python tests/eventlog_writer.py HOME SESSION_ID FSYNC TAG COUNT [--wait]

prints ``ready`` once the log is open (after reading one line of stdin with ``--wait``),
then ``SEQ INDEX`` per append; ``COUNT`` 0 appends until killed. The content of append
``INDEX`` is :func:`content_for` ``(TAG, INDEX)`` so the parent can check it byte for byte.
"""

from __future__ import annotations

import random
import sys

# Multi-byte characters so that a torn write can stop inside a UTF-8 sequence.
_ALPHABET = 'abcdefghij klmnop\nqrstuvwxyz é中文🙂\t"\\'


def content_for(tag: str, index: int) -> str:
    """Deterministic content of append ``index`` of writer ``tag``: mostly short, now and
    then long, always 0.5-1.5 MB for a ``big*`` writer (a long write is where a kill is most
    likely to land mid-way and leave a torn line)."""
    rng = random.Random(f"{tag}/{index}")
    if tag.startswith("big"):  # a writer of huge messages spends most of its time in write()
        size = rng.randrange(512 << 10, 1536 << 10)
    elif rng.random() < 0.002:
        size = rng.randrange(64 << 10, 256 << 10)
    else:
        size = rng.randrange(300)
    chunk = "".join(rng.choices(_ALPHABET, k=min(size, 997)))
    body = (chunk * (size // 997 + 1))[:size]
    return f"{tag} #{index}: {body}"


def main(argv: list[str]) -> int:
    from eventlog import EventLog

    home, session_id, fsync, tag, count = argv[:5]
    wait = "--wait" in argv[5:]
    # Durability is what is checked: the content must be stored byte for byte, and the
    # first append must not wait for the secret detectors to load.
    log = EventLog(home, fsync=fsync, redact_secrets=False)  # type: ignore[arg-type]
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    if wait:
        sys.stdin.readline()
    total = int(count)
    index = 0
    while total == 0 or index < total:
        role = ("user", "assistant")[index % 2]
        event = log.append(session_id, role, content_for(tag, index), token_count=index)
        out.write(f"{event.seq} {index}\n")
        out.flush()
        index += 1
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
