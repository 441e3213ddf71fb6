"""Tradovate's WebSocket protocol (`socket.py`), shared by the broker's trading socket
(`analysis_engine.strategies.brokers.tradovate`) and the market-data tick feed
(`data_ingestion.ticks.tradovate_quotes`)."""
from .socket import SessionEnded, SessionRefused, SocketSettings, TradovateSession, parse_frame, request

__all__ = ["SessionEnded", "SessionRefused", "SocketSettings", "TradovateSession", "parse_frame", "request"]
