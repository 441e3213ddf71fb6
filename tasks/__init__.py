"""Project tasks; the product is `tasks.options_trading_system`."""
