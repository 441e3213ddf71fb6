"""NQ options analysis pipeline and shadow trader.

Sub-packages: `data_ingestion` (sources -> canonical chain), `analysis_engine` (pipeline stages,
strategies), `output_generation` (reports). `config_manager` loads profiles; `errors` holds the
exception tree.
"""
