"""``chatlog serve``: the JSON-RPC 2.0 server on a Unix socket (see :mod:`cli.server`)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from cli.context import Context
from cli.server.config import ServerConfig

_SIZE = re.compile(r"([0-9]+)([kKmM]?)(?:i?[bB])?")
_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


def byte_size(text: str) -> int:
    """A positive size in bytes: ``65536``, ``64K``, ``8M`` (KiB/MiB)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive size such as 65536, 64K or 8M, not {text!r}"
        )
    return int(match[1]) * _UNITS[match[2].lower()]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = ServerConfig(socket_path=Path())
    serve = sub.add_parser(
        "serve",
        help="serve JSON-RPC 2.0 on a Unix socket",
        description="Serve JSON-RPC 2.0 (one JSON message per line) on a Unix socket "
        "until SIGTERM or Ctrl-C.",
    )
    serve.add_argument(
        "--socket", metavar="PATH", help="socket path (default: <home>/chatlog.sock)"
    )
    serve.add_argument(
        "--max-frame",
        type=byte_size,
        default=defaults.max_frame,
        metavar="BYTES",
        help="longest request line accepted; longer ones close the connection (default: 8M)",
    )
    serve.add_argument(
        "--send-buffer",
        type=byte_size,
        default=defaults.send_buffer,
        metavar="BYTES",
        help="bytes queued for a client before its responses and events wait (default: 1M)",
    )
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.log  # the home is prepared: the socket and projections stay there
    socket_path = (
        Path(args.socket).expanduser().absolute() if args.socket else ctx.layout.socket_file
    )
    from cli.server.server import Server  # loaded only when serving

    config = ServerConfig(socket_path, max_frame=args.max_frame, send_buffer=args.send_buffer)

    def announce(path: Path) -> None:
        where = f"store {store!r}" if ctx.store_url else f"fsync={ctx.fsync}"
        ctx.err(f"chatlog: serving JSON-RPC 2.0 on {path} ({where}); Ctrl-C stops")

    import asyncio

    asyncio.run(Server(store, ctx.layout, config).run(on_ready=announce))
    return 0
