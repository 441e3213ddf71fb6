"""Tradovate: REST + WebSocket adapter behind the `Broker` interface (registered as `tradovate`).

`config.py` settings and credentials, `rest.py` the REST session, `websocket.py` the trading
WebSocket, `broker.py` `TradovateBroker`. See docs/limited_live.md for a demo account step by step.
"""
from .broker import LiveTradingNotConfirmedError, TradovateBroker
from .config import Credentials, TradovateConfig, front_month

__all__ = ["Credentials", "LiveTradingNotConfirmedError", "TradovateBroker", "TradovateConfig", "front_month"]
