"""Peers chatlog is measured against: the replaced system's save, and SQLite per-message logging."""
