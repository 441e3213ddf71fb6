"""Local stand-ins for the vendors (Barchart, Databento, Polygon) on 127.0.0.1, for tests and demos."""
