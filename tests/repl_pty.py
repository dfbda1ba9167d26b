"""Driving the installed ``chatlog chat`` through a real pseudo-terminal (pexpect).

prompt_toolkit redraws the input line as it is typed and accepted, so a prompt seen right
after sending a line may be the old one: wait for something the command prints first
(:meth:`Repl.run` does), then for the next prompt.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

import pexpect

from eventlog import EventLog, Message
from tests.conftest import chatlog_executable

SHORT_ID: Final = r"(?:[0-9a-f]{6}|[0-9]{6})"
PROMPT: Final = re.compile(rf"\[({SHORT_ID})(?: fork of {SHORT_ID})?\]>")
TIMEOUT: Final = 15
KEYS: Final = {
    "up": "\x1b[A",
    "down": "\x1b[B",
    "esc-enter": "\x1b\r",
    "tab": "\t",
}


class Repl:
    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        rich: bool = False,
        cwd: Path | None = None,
        options: tuple[str, ...] = (),
    ) -> None:
        """``chatlog [OPTIONS] chat ARGS``."""
        full_env = dict(os.environ)
        full_env.update(TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", CHATLOG_DEBUG="1")
        full_env.pop("NO_COLOR", None)
        if not rich:
            full_env["NO_COLOR"] = "1"
        full_env.update(env or {})
        self.child = pexpect.spawn(
            chatlog_executable(),
            [*options, "chat", *args],
            env=full_env,
            encoding="utf-8",
            timeout=TIMEOUT,
            dimensions=(40, 140),
            cwd=str(cwd) if cwd else None,
        )
        self.session_short = self.prompt()
        self.startup = str(self.child.before)  # what was shown before the first prompt

    def prompt(self) -> str:
        """Wait for a prompt; return the short session id it shows."""
        self.child.expect(PROMPT)
        match = self.child.match
        assert isinstance(match, re.Match)
        return str(match.group(1))

    def expect(self, pattern: str | re.Pattern[str]) -> str:
        """Wait for ``pattern`` (a plain string is matched literally); return what came before."""
        self.child.expect(re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern)
        return str(self.child.before)

    def type(self, text: str) -> None:
        self.child.send(text)

    def key(self, name: str) -> None:
        self.child.send(KEYS[name])

    def control(self, char: str) -> None:
        self.child.sendcontrol(char)

    def enter(self) -> None:
        self.child.send("\r")

    def run(self, line: str, until: str | re.Pattern[str]) -> str:
        """Send ``line``, wait for ``until`` and then the next prompt; return all the output
        in between."""
        self.type(line)
        self.enter()
        out = self.expect(until) + str(self.child.after)
        self.session_short = self.prompt()
        return out + str(self.child.before)

    def quit(self) -> int:
        """Ctrl+D; wait for the process to end; return its exit status."""
        self.control("d")
        return self.wait_exit()

    def wait_exit(self) -> int:
        """Wait for the process to end; return its exit status."""
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.exitstatus is not None, f"killed by signal {self.child.signalstatus}"
        return int(self.child.exitstatus)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


def messages(home: Path, session_id: str) -> list[Message]:
    with EventLog(home) as log:
        return [e for e in log.read(session_id) if isinstance(e, Message)]


def only_session(home: Path) -> str:
    with EventLog(home) as log:
        ids = log.session_ids()
    assert len(ids) == 1, ids
    return ids[0]


def session_with_short_id(home: Path, short: str) -> str:
    with EventLog(home) as log:
        return log.resolve(short)


def start(repls: list[Repl], *args: str, **kwargs: object) -> Repl:
    """Start a REPL that the ``repls`` fixture kills at the end of the test."""
    repl = Repl(*args, **kwargs)  # type: ignore[arg-type]
    repls.append(repl)
    return repl
