"""chatlog's command line, REPL and JSON-RPC server: the thin outer layer that parses and prints."""
