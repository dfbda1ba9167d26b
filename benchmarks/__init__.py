"""chatlog benchmark suite."""
