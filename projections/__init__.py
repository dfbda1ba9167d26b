"""Projections: folds over the event log (index, snapshots, markdown, search) and their upkeep."""
