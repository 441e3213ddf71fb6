"""Databento MBO sources: DBN files (replay) and the live client, feeding the IFD v3.0 engine."""
