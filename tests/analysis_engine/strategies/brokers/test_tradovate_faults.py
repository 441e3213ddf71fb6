"""Order faults survived: nothing doubled, no position without its stop (slow answer, HTTP 500,
rejection, partial fill), and the WebSocket's dropped connection and missed heartbeats."""
from __future__ import annotations

import logging

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.execution.broker import BrokerConnectionError
from tasks.options_trading_system.analysis_engine.strategies.execution.orders import (EventKind, OrderStatus,
                                                                                      Side)
from tests.vendor_servers.base import Fault
from tests.vendor_servers.tradovate_server import TradovateFault, TradovateStandIn

from .conftest import CREDENTIALS, SESSION_OPEN
from .test_tradovate_broker import bracket, wait_for

DECISION = SESSION_OPEN + pd.Timedelta(minutes=20)


def entries_at_standin(standin: TradovateStandIn, client_order_id: str) -> int:
    """Orders the stand-in accepted under that client order id."""
    return sum(1 for c in standin.engine.commands if c["clOrdId"] == client_order_id)


def assert_protected(standin: TradovateStandIn) -> None:
    """Every open position has a working stop on the other side for all of it."""
    engine = standin.engine
    for position in engine.positions.values():
        if position.net_pos == 0:
            continue
        stops = [o for o in engine.orders.values() if o.order_type == "Stop" and o.status == "Working"
                 and o.sign == -1 * (1 if position.net_pos > 0 else -1) and o.parent_id is not None]
        covered = sum(engine.orders[o.parent_id].filled - o.filled for o in stops)
        assert covered >= abs(position.net_pos), f"position {position.net_pos} has stops for {covered}"


def test_a_slow_answer_is_looked_up_not_resent(make_broker, standin: TradovateStandIn) -> None:
    broker = make_broker()
    broker.connect()
    standin.advance_to(DECISION)
    standin.inject(TradovateFault.SLOW, path_prefix="/v1/order/placeoso")
    ack = broker.place_bracket(bracket("slow-1", Side.BUY, 15_000.0, 17_000.0))
    assert ack.entry.status is OrderStatus.FILLED and ack.stop.status is OrderStatus.WORKING
    assert standin.count("/v1/order/placeoso") == 1 and entries_at_standin(standin, "slow-1/entry") == 1
    again = broker.place_bracket(bracket("slow-1", Side.BUY, 15_000.0, 17_000.0))   # the caller resends
    assert again.entry.broker_order_id == ack.entry.broker_order_id
    assert standin.count("/v1/order/placeoso") == 1
    assert [p.quantity for p in broker.positions()] == [1]
    assert_protected(standin)


def test_a_restarted_broker_does_not_place_a_known_bracket_again(make_broker, standin: TradovateStandIn) -> None:
    first = make_broker()
    first.connect()
    standin.advance_to(DECISION)
    first.place_bracket(bracket("restart-1", Side.SELL, 17_000.0, 15_000.0))
    first.close()                                          # the process dies; a new one starts
    second = make_broker()
    second.connect()
    ack = second.place_bracket(bracket("restart-1", Side.SELL, 17_000.0, 15_000.0))
    assert ack.entry.status is OrderStatus.FILLED and ack.stop.status is OrderStatus.WORKING
    assert standin.count("/v1/order/placeoso") == 1
    assert [p.quantity for p in second.positions()] == [-1]


def test_http_500_on_placement_is_checked_then_sent_once(make_broker, standin: TradovateStandIn) -> None:
    broker = make_broker()
    broker.connect()
    standin.advance_to(DECISION)
    standin.inject(Fault.HTTP_500, path_prefix="/v1/order/placeoso")   # refused before it was carried out
    ack = broker.place_bracket(bracket("e500-1", Side.BUY, 15_000.0, 17_000.0))
    assert ack.entry.status is OrderStatus.FILLED
    assert standin.count("/v1/order/placeoso") == 2 and entries_at_standin(standin, "e500-1/entry") == 1
    assert standin.count("/v1/command/list") >= 2           # looked up before the resend
    assert_protected(standin)


def test_an_unreachable_lookup_never_resends(make_broker, standin: TradovateStandIn) -> None:
    broker = make_broker(lookup_attempts=2, retry_attempts=2)
    broker.connect()
    standin.advance_to(DECISION)
    standin.inject(TradovateFault.SLOW, path_prefix="/v1/order/placeoso")

    def break_lookups(request) -> None:   # once the order is sent, its lookups fail
        if request.path == "/v1/order/placeoso":
            standin.inject(Fault.HTTP_500, times=100, path_prefix="/v1/command/list")

    standin.on_request = break_lookups
    with pytest.raises(BrokerConnectionError, match="not resending"):
        broker.place_bracket(bracket("dark-1", Side.BUY, 15_000.0, 17_000.0))
    assert standin.count("/v1/order/placeoso") == 1 and entries_at_standin(standin, "dark-1/entry") == 1
    assert_protected(standin)


def test_a_rejected_bracket_is_reported_and_never_resent(make_broker, standin: TradovateStandIn) -> None:
    broker = make_broker()
    broker.connect()
    standin.advance_to(DECISION)
    standin.inject(TradovateFault.REJECT)
    ack = broker.place_bracket(bracket("rej-1", Side.BUY, 15_000.0, 17_000.0))
    assert {s.status for s in (ack.entry, ack.stop, ack.target)} == {OrderStatus.REJECTED}
    assert "MaxPosLimitReached" in ack.entry.reason
    again = broker.place_bracket(bracket("rej-1", Side.BUY, 15_000.0, 17_000.0))
    assert again.entry.status is OrderStatus.REJECTED
    assert standin.count("/v1/order/placeoso") == 1
    assert broker.positions() == [] and broker.fills() == []


def test_a_partial_fill_is_protected_at_every_step(make_broker, standin: TradovateStandIn,
                                                   nq_bars: pd.DataFrame) -> None:
    broker = make_broker()
    broker.connect()
    standin.advance_to(DECISION)
    standin.inject(TradovateFault.PARTIAL_FILL)
    ack = broker.place_bracket(bracket("part-1", Side.BUY, 15_000.0, 17_000.0, quantity=2))
    assert ack.entry.status is OrderStatus.PARTIAL and ack.entry.filled_quantity == 1
    assert [p.quantity for p in broker.positions()] == [1]
    assert_protected(standin)
    standin.advance_to(DECISION + pd.Timedelta(minutes=1))
    rest_price = nq_bars.loc[nq_bars["time"] == DECISION, "open"].item()
    assert [(f.quantity, f.price) for f in broker.fills()][1] == (1, rest_price)
    assert [p.quantity for p in broker.positions()] == [2]
    assert_protected(standin)
    states = broker.flatten()
    assert broker.positions() == [] and broker.working_orders() == []
    assert any(s.status is OrderStatus.FILLED and s.filled_quantity == 2 for s in states)


def fill_events(events) -> list[str]:
    return [e.fill.fill_id for e in events if e.kind is EventKind.FILL]


def test_a_dropped_socket_reconnects_and_resyncs_what_it_missed(make_broker, standin: TradovateStandIn,
                                                                nq_bars: pd.DataFrame) -> None:
    broker = make_broker()
    broker.connect()
    standin.advance_to(DECISION)
    reference = standin.engine.last_close()
    broker.place_bracket(bracket("drop-1", Side.BUY, reference - 200, reference + 5))
    events = list(broker.events())
    sessions = broker.socket.sessions
    standin.inject(TradovateFault.DROP_SOCKET)              # cut at the client's next heartbeat
    assert wait_for(lambda: not broker.socket.synced, 5)
    standin.advance_to(DECISION + pd.Timedelta(hours=3))     # fills while the socket may be down
    assert wait_for(lambda: broker.socket.synced and broker.socket.sessions > sessions, 5)
    assert wait_for(lambda: (events.extend(broker.events()) or True) and len(fill_events(events)) >= 2, 5)
    notes = [e.note for e in events if e.kind is EventKind.CONNECTION]
    assert any(n.startswith("disconnected") for n in notes) and "reconnected and resynced" in notes
    assert sorted(fill_events(events)) == sorted(f.fill_id for f in broker.fills())   # each fill once
    assert broker.positions() == []


def test_missed_heartbeats_are_noticed_and_the_resync_brings_the_missed_fills(
        make_broker, standin: TradovateStandIn) -> None:
    broker = make_broker()
    broker.connect()
    standin.advance_to(DECISION)
    reference = standin.engine.last_close()
    broker.place_bracket(bracket("quiet-1", Side.SELL, reference + 200, reference - 5))
    events = list(broker.events())
    sessions = broker.socket.sessions
    standin.cut_websockets()
    standin.inject(TradovateFault.MISSED_HEARTBEATS)         # the next connection syncs, then goes silent
    assert wait_for(lambda: broker.socket.sessions == sessions + 1, 5)
    standin.advance_to(DECISION + pd.Timedelta(hours=3))     # the target fills: no event on the silent socket
    assert wait_for(lambda: broker.socket.sessions >= sessions + 2 and broker.socket.synced, 5)
    assert wait_for(lambda: (events.extend(broker.events()) or True) and len(fill_events(events)) >= 2, 5)
    notes = [e.note for e in events if e.kind is EventKind.CONNECTION]
    assert any("missed heartbeats" in n for n in notes)
    assert sorted(fill_events(events)) == sorted(f.fill_id for f in broker.fills())
    assert standin.ws_connections >= 3


def test_no_credential_or_token_reaches_the_log(make_broker, standin: TradovateStandIn,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    broker = make_broker()
    broker.connect()
    standin.advance_to(DECISION)
    standin.inject(TradovateFault.TOKEN_EXPIRED, path_prefix="/v1/position/list")
    broker.place_bracket(bracket("log-1", Side.BUY, 15_000.0, 17_000.0))
    broker.positions()
    standin.cut_websockets()
    assert wait_for(lambda: broker.socket.sessions >= 2, 5)
    tokens = list(standin.tokens)
    assert tokens and caplog.text
    for secret in (CREDENTIALS.password, CREDENTIALS.sec, CREDENTIALS.cid, *tokens):
        assert secret not in caplog.text


def test_cancel_a_working_bracket_leg_and_an_unknown_id(make_broker, standin: TradovateStandIn) -> None:
    from tasks.options_trading_system.analysis_engine.strategies.execution.broker import BrokerError

    broker = make_broker()
    broker.connect()
    standin.advance_to(DECISION)
    reference = standin.engine.last_close()
    broker.place_bracket(bracket("cxl-1", Side.BUY, reference - 300, reference + 300))
    assert broker.cancel("cxl-1/target").status is OrderStatus.CANCELLED
    assert {s.client_order_id for s in broker.working_orders()} == {"cxl-1/stop"}   # still protected
    assert_protected(standin)
    assert broker.cancel("cxl-1/entry").status is OrderStatus.FILLED               # finished: its state
    with pytest.raises(BrokerError, match="no order with client order id"):
        broker.cancel("never-sent/entry")


def test_an_expired_token_on_reconnect_is_renewed(make_broker, standin: TradovateStandIn) -> None:
    broker = make_broker()
    broker.connect()
    sessions = broker.socket.sessions
    with standin._lock:                        # the server forgets every token (expired early)
        standin.tokens.clear()
    standin.cut_websockets()
    assert wait_for(lambda: broker.socket.sessions > sessions and broker.socket.synced, 5)
    events = broker.events()
    assert any("authorization refused" in e.note for e in events if e.kind is EventKind.CONNECTION)
    assert standin.count("/v1/auth/accesstokenrequest") == 2      # renewal refused -> a fresh login


def test_a_broker_that_stays_away_is_given_up_after_bounded_reconnects(make_broker,
                                                                       standin: TradovateStandIn) -> None:
    broker = make_broker(reconnect_attempts=2, reconnect_wait_s=0.01, server_timeout_s=0.3)
    broker.connect()
    standin.stop()                              # REST and WebSocket gone: connections refused
    assert wait_for(lambda: broker.socket.failed, 10)
    notes = [e.note for e in broker.events() if e.kind is EventKind.CONNECTION]
    assert notes[-1].startswith("gave up after 2 failed reconnects")
    with pytest.raises(BrokerConnectionError):
        broker.positions()
