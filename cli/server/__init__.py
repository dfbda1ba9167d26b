"""chatlog's JSON-RPC 2.0 server over a Unix socket (DESIGN §9, README "JSON-RPC server").

Modules, each with one job:

- ``protocol``: messages and newline-delimited framing (shared with ``cli.rpc_client``);
- ``errors``: error codes, and the table mapping chatlog's errors onto them;
- ``params``: each method's typed parameters;
- ``methods``: the method table and the request → response step;
- ``subscriptions``: live ``session.event`` notifications read from the logs;
- ``outbox``: a connection's bounded send queue;
- ``connection``: one client's read/answer/write loop;
- ``storage``: log and projection calls, run off the event loop;
- ``listener``: claiming the socket path (liveness test, stale sockets, permissions);
- ``server``: accepting connections and shutting down cleanly;
- ``config``: its settings.

Nothing is imported here, so ``chatlog``'s other commands do not pay for loading the
server: use ``cli.server.server.Server`` and ``cli.server.config.ServerConfig``.
"""
