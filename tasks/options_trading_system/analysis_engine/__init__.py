"""analysis_engine."""
