"""IFD v3.0: institutional-flow detection on Databento MBO streams (see docs/ifd_v3.md)."""
