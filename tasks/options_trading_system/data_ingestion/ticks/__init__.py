"""Trades of a future, tick by tick: DBN recordings read into arrays (`dbn_ticks.py`)."""
