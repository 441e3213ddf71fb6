"""Execution: the broker interface, the typed records that cross it, and the paper broker.

Everything that sends or simulates an order speaks `Broker` (`broker.py`) in the records of
`orders.py`; adapters for real brokers live in `../brokers/` and register by name there.
"""
