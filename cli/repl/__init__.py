"""The interactive chat REPL (``chatlog`` / ``chatlog chat``), on prompt_toolkit.

app (event loop, Ctrl+C) → chat (state and shared actions) → turn (one exchange, saved as it
happens), commands (slash commands), keys, completion, render (plain or rich output),
current (the session as read from its log), watch (other writers), history (0600 file).
"""

from cli.repl.app import ChatOptions, run_chat

__all__ = ["ChatOptions", "run_chat"]
