"""Databento source: CME Globex (GLBX.MDP3) options on NQ futures from the historical API."""
