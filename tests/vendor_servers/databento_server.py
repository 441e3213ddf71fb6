"""A local Databento historical gateway: the endpoints the real `databento.Historical` calls.

- `GET  /v0/metadata.get_dataset_range?dataset=`  -> `{"start", "end"}` of the data it holds;
- `POST /v0/metadata.get_cost` (form: dataset, start, end, symbols, schema, stype_in, ...)
  -> a JSON number, the USD price of that request (`cost_per_request[schema]`);
- `POST /v0/timeseries.get_range` (form: the same + encoding=dbn, compression) -> DBN bytes
  (metadata + records) built with `databento_dbn`, for the requested symbols, schema and window.

Symbols resolve like Databento's: `parent` (`NQ.OPT` = options whose product code is NQ,
`NQ.FUT` = futures), `instrument_id`, `raw_symbol`. HTTP basic auth: the key is the user name;
a wrong key gets 401 with Databento's error shape. It speaks HTTPS only when given a
certificate (the real client refuses plain HTTP). The market it serves is a `Market`: built by
hand in a test (`Contract` rows) or from a real Barchart capture (`market_from_barchart_capture`).
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import databento_dbn as dbn
import pandas as pd

from .base import Fault, Request, Response, StandInServer

DATASET = "GLBX.MDP3"
SCALE = 1_000_000_000
PUBLISHER_GLBX = 1


@dataclass(frozen=True)
class Contract:
    """One instrument of the stand-in's market (an option or a future) and its day."""

    instrument_id: int
    raw_symbol: str
    asset: str                       # CME product code (NQ, Q1A, ... or ES for a non-NQ option)
    right: str                       # "C", "P" or "F" (future)
    expiration: pd.Timestamp
    underlying: str = ""             # the future an option exercises into ("" for a future)
    strike: float | None = None
    multiplier: float = 20.0         # unit_of_measure_qty
    open_interest: int | None = None
    trades: tuple[tuple[float, int], ...] = ()   # (price, size) in time order
    bid: float | None = None
    ask: float | None = None


@dataclass
class Market:
    """What the stand-in knows: contracts, and the time of their records (inside the session)."""

    contracts: list[Contract]
    record_time: pd.Timestamp
    available_end: pd.Timestamp

    def resolve(self, symbols: Sequence[str], stype_in: str) -> list[Contract]:
        out: list[Contract] = []
        for symbol in symbols:
            if stype_in == "parent":
                product, _, kind = symbol.partition(".")
                classes = ("C", "P") if kind == "OPT" else ("F",)
                out += [c for c in self.contracts if c.asset == product and c.right in classes]
            elif stype_in == "instrument_id":
                out += [c for c in self.contracts if str(c.instrument_id) == symbol]
            else:
                out += [c for c in self.contracts if c.raw_symbol == symbol]
        unique = {c.instrument_id: c for c in out}
        return list(unique.values())


class DatabentoStandIn(StandInServer):
    vendor = "databento"

    def __init__(self, market: Market, *, tls: tuple[Path, Path], key: str | None = None,
                 cost_per_request: Mapping[str, float] | None = None, default_cost: float = 0.01,
                 port: int = 0) -> None:
        super().__init__(port=port, tls=tls)
        self.market = market
        self.key = key
        self.cost_per_request = dict(cost_per_request or {})
        self.default_cost = default_cost

    def error_body(self, status: int, message: str) -> Response:
        return Response.json({"detail": {"case": f"http_{status}", "message": message, "docs": None}}, status)

    def malformed_body(self, request: Request) -> Response:
        return Response(200, b"<html><body>502 Bad Gateway (proxy)</body></html>", {"Content-Type": "text/html"})

    def respond(self, request: Request, mode: Fault | None) -> Response:
        if not self._authorised(request):
            return self.error_body(401, "Authentication failed: unknown API key")
        if request.path == "/v0/metadata.get_dataset_range":
            return Response.json({"start": "2010-06-06T00:00:00.000000000Z",
                                  "end": self.market.available_end.isoformat()})
        form = request.form()
        if request.path == "/v0/metadata.get_cost":
            return Response.json(self.cost_per_request.get(form.get("schema", ""), self.default_cost))
        if request.path == "/v0/timeseries.get_range":
            return Response(200, self.dbn_bytes(form, mode), {"Content-Type": "application/octet-stream"})
        return self.error_body(404, f"no endpoint {request.path}")

    def _authorised(self, request: Request) -> bool:
        if self.key is None:
            return True
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user = base64.b64decode(header[6:]).decode(errors="replace").split(":", 1)[0]
        return user == self.key

    def dbn_bytes(self, form: Mapping[str, str], mode: Fault | None) -> bytes:
        """The DBN answer to a get_range form: metadata, then the schema's records of the symbols."""
        schema = form["schema"]
        symbols = [s for s in form.get("symbols", "").split(",") if s]
        start, end = pd.Timestamp(form["start"]), pd.Timestamp(form.get("end") or form["start"])
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        end = end.tz_localize("UTC") if end.tzinfo is None else end
        metadata = dbn.Metadata(dataset=form.get("dataset", DATASET), start=start.value,
                                stype_in=dbn.SType(form.get("stype_in", "raw_symbol")),
                                stype_out=dbn.SType.INSTRUMENT_ID, schema=dbn.Schema(schema), symbols=symbols,
                                end=end.value, partial=[], not_found=[], mappings=[])
        contracts = self.market.resolve(symbols, form.get("stype_in", "raw_symbol"))
        in_window = start <= self.market.record_time < end
        if mode is Fault.EMPTY or not in_window:
            return bytes(metadata)
        if mode is Fault.SCALE_1000:
            contracts = [replace(c, strike=c.strike * 1000) if c.strike is not None else c for c in contracts]
        ts = self.market.record_time.value
        records = [r for c in contracts for r in records_for(c, schema, ts)]
        return bytes(metadata) + b"".join(bytes(r) for r in records)


def records_for(contract: Contract, schema: str, ts: int) -> list:
    """The DBN records of one contract for one schema, stamped at `ts` (ns)."""
    iid = contract.instrument_id
    if schema == "definition":
        instrument_class = {"C": dbn.InstrumentClass.CALL, "P": dbn.InstrumentClass.PUT,
                            "F": dbn.InstrumentClass.FUTURE}[contract.right]
        return [dbn.InstrumentDefMsg(
            publisher_id=PUBLISHER_GLBX, instrument_id=iid, ts_event=ts, ts_recv=ts,
            min_price_increment=int(0.25 * SCALE), display_factor=SCALE // 100,
            raw_symbol=contract.raw_symbol, asset=contract.asset,
            security_type="OOF" if contract.right in "CP" else "FUT", instrument_class=instrument_class,
            security_update_action=dbn.SecurityUpdateAction.ADD, expiration=contract.expiration.value,
            strike_price=_fixed(contract.strike), unit_of_measure_qty=_fixed(contract.multiplier),
            underlying=contract.underlying, exchange="XCME", currency="USD")]
    if schema == "statistics":
        if contract.open_interest is None:
            return []
        return [dbn.StatMsg(publisher_id=PUBLISHER_GLBX, instrument_id=iid, ts_event=ts, ts_recv=ts, ts_ref=ts,
                            price=dbn.UNDEF_PRICE, quantity=int(contract.open_interest),
                            stat_type=dbn.StatType.OPEN_INTEREST)]
    if schema == "trades":
        # trades 1 ms apart after `ts`, in the order given
        return [dbn.TradeMsg(publisher_id=PUBLISHER_GLBX, instrument_id=iid, ts_event=ts + (i + 1) * 1_000_000,
                             ts_recv=ts + (i + 1) * 1_000_000, price=_fixed(price), size=int(size),
                             action=dbn.Action.TRADE, side=dbn.Side.BID, depth=0)
                for i, (price, size) in enumerate(contract.trades)]
    if schema == "ohlcv-1d":
        if not contract.trades:
            return []
        prices = [p for p, _ in contract.trades]
        return [dbn.OHLCVMsg(rtype=dbn.RType.OHLCV_1D, publisher_id=PUBLISHER_GLBX, instrument_id=iid, ts_event=ts,
                             open=_fixed(prices[0]), high=_fixed(max(prices)), low=_fixed(min(prices)),
                             close=_fixed(prices[-1]), volume=sum(s for _, s in contract.trades))]
    if schema in ("bbo-1m", "mbp-1"):
        if contract.bid is None and contract.ask is None:
            return []
        level = dbn.BidAskPair(bid_px=_fixed(contract.bid), ask_px=_fixed(contract.ask), bid_sz=1, ask_sz=1,
                               bid_ct=1, ask_ct=1)
        if schema == "bbo-1m":
            return [dbn.BBOMsg(rtype=dbn.RType.BBO_1M, publisher_id=PUBLISHER_GLBX, instrument_id=iid, ts_event=ts,
                               price=dbn.UNDEF_PRICE, size=0, side=dbn.Side.NONE, ts_recv=ts, levels=level)]
        return [dbn.MBP1Msg(publisher_id=PUBLISHER_GLBX, instrument_id=iid, ts_event=ts, price=_fixed(contract.bid),
                            size=1, action=dbn.Action.ADD, side=dbn.Side.BID, depth=0, ts_recv=ts, levels=level)]
    return []


def _fixed(value: float | None) -> int:
    return dbn.UNDEF_PRICE if value is None else int(round(float(value) * SCALE))


def market_from_barchart_capture(path: Path, *, record_time: pd.Timestamp, future_bid: float | None,
                                 future_ask: float | None) -> Market:
    """A Databento market holding the same chain as a real Barchart capture (for demos/comparisons).

    Each Barchart contract becomes a definition (strike, right, expiration decoded from its root,
    the CME Globex raw symbol Databento would send: `MC6M5|21500C` -> `Q1AM5 C21500`),
    an OPEN_INTEREST statistic, one trade of its volume at its last price, and its bid/ask; the
    underlying future gets the quote given (the page's NQ quote).
    """
    from tasks.options_trading_system.data_ingestion.saved.barchart_symbols import decode_root

    document = json.loads(Path(path).read_text())
    payload = document.get("payload", document)
    contracts: list[Contract] = []
    underlying = ""
    next_id = 1000
    for group in payload["data"].values():
        for row in group:
            raw = row["raw"]
            root, _, code = str(raw["symbol"]).partition("|")
            series = decode_root(root, record_time.date())
            if series is None:
                continue
            underlying = _one_digit_year(series.underlying_symbol)
            right = "C" if str(raw["optionType"]).lower().startswith("c") else "P"

            def number(name: str) -> float | None:
                display = row.get(name)
                value = raw.get(name)
                return None if value is None or display == "N/A" else float(value)

            last, volume = number("lastPrice"), number("volume")
            trades = ((last, int(volume)),) if last is not None and volume else ()
            expiration = pd.Timestamp(series.expiration).tz_localize("America/New_York") + pd.Timedelta(hours=16)
            product = _cme_product(series.kind)
            contracts.append(Contract(
                instrument_id=next_id, raw_symbol=f"{product}{_month_and_year_digit(root)} {right}{code.rstrip('CP')}",
                asset=product,
                right=right, expiration=expiration.tz_convert("UTC"), underlying=underlying,
                strike=float(raw["strike"]), open_interest=None if number("openInterest") is None
                else int(number("openInterest")), trades=trades, bid=number("bidPrice"), ask=number("askPrice")))
            next_id += 1
    contracts.append(Contract(instrument_id=1, raw_symbol=underlying, asset="NQ", right="F",
                              expiration=record_time + pd.Timedelta(days=30), bid=future_bid, ask=future_ask))
    # data available until a few minutes after the records, so a run's quote window ends near them
    return Market(contracts=contracts, record_time=record_time, available_end=record_time + pd.Timedelta(minutes=5))


def _cme_product(kind: str) -> str:
    """CME's product code for a Barchart series kind ("Monday weekly, week 1" -> Q1A)."""
    if kind.startswith("monthly"):
        return "NQ"
    if kind.startswith("end of month"):
        return "QNE"
    day, _, week = kind.partition(" weekly, week ")
    if day == "Friday":
        return f"QN{week}"
    return f"Q{week}{'ABCD'['Monday Tuesday Wednesday Thursday'.split().index(day)]}"


def _month_and_year_digit(root: str) -> str:
    """Barchart root MC6M25 or MC6M5 -> M5 (Globex: month code and the year's last digit)."""
    match = re.match(r"^.*?([FGHJKMNQUVXZ])(\d{1,2})$", root)
    if match is None:
        raise ValueError(f"not a Barchart option root: {root!r}")
    return f"{match.group(1)}{match.group(2)[-1]}"


def _one_digit_year(future: str) -> str:
    """NQM25 -> NQM5 (CME Globex raw symbols carry one year digit)."""
    return future[:-2] + future[-1] if len(future) >= 5 and future[-2:].isdigit() else future


def hand_market(contracts: Iterable[Contract], *, record_time: pd.Timestamp) -> Market:
    return Market(contracts=list(contracts), record_time=record_time,
                  available_end=record_time + pd.Timedelta(hours=1))
