"""state: what must survive a crash (the shadow-trading ledger)."""
