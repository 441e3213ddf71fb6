"""Trades of a future, tick by tick: DBN recordings read into arrays (`dbn_ticks.py`), and tick
feeds behind one interface (`feed.py`: `TickFeed`, `ReplayTickFeed`; `databento_live.py`;
`tradovate_quotes.py`)."""
