"""Importers: histories kept by other tools, brought into the event log.

One module per source format turns foreign bytes into neutral records
(:mod:`cli.importers.records`) with pure functions: ``seed`` (the replaced system),
``claude_code``, ``chatgpt``, ``claude_ai`` and ``llm_db``. :mod:`cli.importers.sources`
finds the files of a source and detects its format; :mod:`cli.importers.writer` writes
records into the log idempotently; :mod:`cli.importers.run` ties them together for
``chatlog import`` (:mod:`cli.cmd_import`).

Of chatlog's own packages this imports only ``eventlog``: importing writes events, and the
projections catch up from the logs as they do after any other write.
"""
