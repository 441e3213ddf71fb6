"""state: what must survive a crash (the shadow-trading ledger), the named queries asked of it,
its typed trade rows, and atomic file writes. The lowest layer: it imports nothing above it."""
