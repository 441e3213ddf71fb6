"""Execution: the broker interface, the typed records that cross it, and the paper broker.

Everything that sends or simulates an order speaks `Broker` (`broker.py`) in the records of
`orders.py`; adapters for real brokers live in `../brokers/` and register by name there. What the
orchestrators share around a broker lives here too: exits recorded from its fills
(`exit_recording.py`), its fills and the price through the risk engine (`post_trade.py`), and
reconciliation with the ledger (`reconciliation.py`, `adoption.py`).
"""
