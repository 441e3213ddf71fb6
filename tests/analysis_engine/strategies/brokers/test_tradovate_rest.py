"""The Tradovate REST session against the stand-in: login refusals, penalties, token renewal,
transient errors, credentials kept out of logs and messages, the live-environment rule."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.strategies.brokers.tradovate import (
    Credentials, LiveTradingNotConfirmedError, TradovateBroker, TradovateConfig)
from tasks.options_trading_system.analysis_engine.strategies.execution.broker import (BrokerAuthError,
                                                                                      BrokerConnectionError)
from tasks.options_trading_system.errors import ConfigError
from tests.vendor_servers.base import Fault
from tests.vendor_servers.tradovate_server import TradovateFault, TradovateStandIn

from .conftest import CREDENTIALS

SECRETS = (CREDENTIALS.password, CREDENTIALS.sec)


def test_a_refused_login_is_an_auth_error_without_the_credentials(make_broker, standin: TradovateStandIn,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    standin.inject(TradovateFault.BAD_LOGIN)
    with pytest.raises(BrokerAuthError) as refused:
        make_broker().connect()
    assert "Incorrect username or password" in str(refused.value)
    assert "TRADOVATE_" in str(refused.value)
    for secret in SECRETS + (CREDENTIALS.username,):
        assert secret not in str(refused.value) and secret not in caplog.text
    assert standin.count("/v1/auth/accesstokenrequest") == 1   # refused once, not hammered


def test_wrong_credentials_are_refused(make_broker) -> None:
    wrong = Credentials(**{**CREDENTIALS.__dict__, "password": "not-the-password"})
    with pytest.raises(BrokerAuthError, match="refused the login"):
        make_broker(credentials=wrong).connect()


def test_a_penalty_is_waited_out_and_the_ticket_sent_back(make_broker, standin: TradovateStandIn, sleeps) -> None:
    standin.inject(TradovateFault.PENALTY, times=2)
    broker = make_broker()
    broker.connect()
    assert sleeps[:2] == [7.0, 7.0]                       # p-time, through the injected sleep
    logins = [r for r in standin.requests if r.path == "/v1/auth/accesstokenrequest"]
    assert len(logins) == 3
    assert "p-ticket" not in logins[0].body.decode() and all(b"p-ticket" in r.body for r in logins[1:])
    assert broker.account_id == standin.engine.account["id"]


def test_a_penalty_longer_than_allowed_is_not_waited(make_broker, standin: TradovateStandIn, sleeps) -> None:
    standin.penalty_s = 4000.0
    standin.inject(TradovateFault.PENALTY)
    with pytest.raises(BrokerAuthError, match="max_penalty_wait_s"):
        make_broker(max_penalty_wait_s=600.0).connect()
    assert sleeps == []


def test_the_token_is_renewed_before_it_expires(make_broker, standin: TradovateStandIn) -> None:
    now = [1_000_000.0]
    standin.clock = lambda: now[0]
    broker = make_broker(clock=lambda: now[0], renew_margin_s=600.0)
    broker.connect()
    first = broker.rest.token_expires_at
    assert first == pytest.approx(now[0] + 90 * 60)
    now[0] = first - 700.0                                # not yet inside the margin
    broker.positions()
    assert standin.count("/v1/auth/renewaccesstoken") == 0
    now[0] = first - 500.0                                # inside the margin: renewed first
    assert broker.positions() == []
    assert standin.count("/v1/auth/renewaccesstoken") == 1 and broker.rest.renewals == 1
    assert broker.rest.token_expires_at == pytest.approx(now[0] + 90 * 60)
    assert standin.count("/v1/auth/accesstokenrequest") == 1


def test_a_token_expired_early_is_replaced_and_the_call_resent(make_broker, standin: TradovateStandIn) -> None:
    broker = make_broker()
    broker.connect()
    standin.inject(TradovateFault.TOKEN_EXPIRED, path_prefix="/v1/position/list")
    assert broker.positions() == []
    # the 401 led to a renewal, refused with the expired token, so a fresh login
    assert standin.count("/v1/auth/renewaccesstoken") == 1
    assert standin.count("/v1/auth/accesstokenrequest") == 2
    assert standin.count("/v1/position/list") >= 2


def test_http_500_is_retried_with_backoff(make_broker, standin: TradovateStandIn, sleeps) -> None:
    broker = make_broker()
    broker.connect()
    standin.inject(Fault.HTTP_500, times=2, path_prefix="/v1/position/list")
    before = len(sleeps)
    assert broker.positions() == []
    assert len(sleeps) - before == 2 and sleeps[-1] > sleeps[-2]   # exponential backoff


def test_a_server_that_stays_down_is_a_connection_error_after_bounded_tries(make_broker, standin, sleeps) -> None:
    broker = make_broker(retry_attempts=3)
    broker.connect()
    standin.inject(Fault.HTTP_500, times=100, path_prefix="/v1/position/list")
    before = standin.count("/v1/position/list")
    with pytest.raises(BrokerConnectionError, match="HTTP 500 after 3 tries"):
        broker.positions()
    assert standin.count("/v1/position/list") - before == 3


def test_a_slow_read_is_a_timeout_that_is_retried(make_broker, standin: TradovateStandIn) -> None:
    broker = make_broker()
    broker.connect()
    standin.inject(TradovateFault.SLOW, path_prefix="/v1/position/list")
    before = standin.count("/v1/position/list")
    assert broker.positions() == []
    assert standin.count("/v1/position/list") - before == 2


def test_credentials_come_from_the_environment_then_dotenv_and_are_masked(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TRADOVATE_USERNAME=file-user\nTRADOVATE_PASSWORD=file-pass\nTRADOVATE_CID=11\n"
                        "TRADOVATE_SEC=file-sec\nTRADOVATE_APP_ID=app\nTRADOVATE_DEVICE_ID=dev\n")
    credentials = Credentials.from_env({"TRADOVATE_PASSWORD": "env-pass"}, env_file)
    assert credentials.password == "env-pass" and credentials.username == "file-user"
    assert "env-pass" not in repr(credentials) and "file-sec" not in str(credentials)
    assert credentials.scrub("login env-pass / file-sec failed") == "login *** / *** failed"


def test_missing_credentials_are_named_never_shown(tmp_path: Path) -> None:
    with pytest.raises(BrokerAuthError) as missing:
        Credentials.from_env({"TRADOVATE_PASSWORD": "secret-value"}, tmp_path / "absent.env")
    message = str(missing.value)
    assert "TRADOVATE_USERNAME" in message and "TRADOVATE_SEC" in message
    assert "TRADOVATE_PASSWORD" not in message and "secret-value" not in message


def test_live_is_refused_without_confirmation_and_loud_with_it(caplog: pytest.LogCaptureFixture) -> None:
    live = TradovateConfig(environment="live")
    with pytest.raises(LiveTradingNotConfirmedError, match="--confirm-live"):
        TradovateBroker(live, CREDENTIALS)
    caplog.set_level(logging.WARNING)
    broker = TradovateBroker(live, CREDENTIALS, confirm_live=True)
    assert broker.real_money is True and "REAL MONEY" in caplog.text
    assert live.rest_base == "https://live.tradovateapi.com/v1"
    demo = TradovateBroker(TradovateConfig(), CREDENTIALS)
    assert demo.real_money is False and demo.config.rest_base == "https://demo.tradovateapi.com/v1"


def test_the_profile_section_needs_the_command_line_confirmation_for_live(monkeypatch: pytest.MonkeyPatch) -> None:
    for field, variable in (("username", "TRADOVATE_USERNAME"), ("password", "TRADOVATE_PASSWORD"),
                            ("cid", "TRADOVATE_CID"), ("sec", "TRADOVATE_SEC"), ("app_id", "TRADOVATE_APP_ID"),
                            ("device_id", "TRADOVATE_DEVICE_ID")):
        monkeypatch.setenv(variable, getattr(CREDENTIALS, field))
    with pytest.raises(LiveTradingNotConfirmedError):
        TradovateBroker.from_profile({"name": "tradovate", "environment": "live"})
    assert TradovateBroker.from_profile({"name": "tradovate", "environment": "live"}, confirm_live=True).real_money
    assert not TradovateBroker.from_profile({"name": "tradovate"}).real_money


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="environment"):
        TradovateConfig(environment="paper")
    with pytest.raises(ConfigError, match="unknown Tradovate setting"):
        TradovateConfig.from_mapping({"name": "tradovate", "enviroment": "demo"})
    assert TradovateConfig.from_mapping({"name": "tradovate", "heartbeat_s": 1.0}).heartbeat_s == 1.0


def test_the_schema_describes_every_setting_with_its_default() -> None:
    import dataclasses
    import json

    import jsonschema

    from tests.conftest import PROJECT_ROOT

    schema = json.loads((PROJECT_ROOT / "config" / "schema" / "broker.tradovate.schema.json").read_text())
    properties = schema["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(TradovateConfig)}
    assert set(properties) - {"name"} == set(fields)
    assert {k: properties[k]["default"] for k in fields} == fields
    assert all(p.get("description") for p in properties.values())
    jsonschema.validate({"name": "tradovate", "environment": "demo", "heartbeat_s": 1.0}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "tradovate", "environment": "paper"}, schema)
