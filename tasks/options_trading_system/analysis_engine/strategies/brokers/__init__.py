"""Broker adapters, registered by name: the profile's `broker.name` picks one.

Adding a broker: a module (or sub-package) here with a `Broker` subclass, and a line in
`BROKER_CLASSES`. Entries are import paths, so a broker's SDK is imported only when it is chosen.
"""
from __future__ import annotations

import importlib

from ..execution.broker import Broker

#: name -> "module:Class", relative to this package (`..execution.paper` is a sibling package's)
BROKER_CLASSES: dict[str, str] = {
    "paper": "..execution.paper:PaperBroker",
    "tradovate": "tradovate:TradovateBroker",
}


def broker_class(name: str) -> type[Broker]:
    """The Broker subclass registered as `name`; a ValueError naming the known ones otherwise."""
    try:
        target = BROKER_CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown broker {name!r}: expected one of {', '.join(sorted(BROKER_CLASSES)) or '(none)'}")
    module_name, _, cls_name = target.partition(":")
    module = importlib.import_module(module_name if module_name.startswith(".") else f".{module_name}", __name__)
    return getattr(module, cls_name)
