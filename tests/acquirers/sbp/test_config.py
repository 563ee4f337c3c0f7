"""SBP link configuration: kebab-case keys from the configuration file, validation, secrets."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from acquirers.sbp import SbpConfig, SbpConfigError, SbpTlsOptions
from cardcore.protocol.status import status_of

BASE: dict[str, Any] = {
    "agent-url": "https://sbp-agent.example:8443/",
    "terminal-id": "123456789A2",
    "merchant-id": "MA0000000552",
}


def test_from_mapping_with_text_values() -> None:
    config = SbpConfig.from_mapping(
        BASE
        | {
            "bank-name": "БАНК",
            "poll-interval": "0.5",
            "max-poll-errors": "2",
            "check-payload-sum": "false",
            "tls": {"ca-file": "/etc/cardcore/sbp-ca.pem", "check-hostname": "true"},
        }
    )
    assert config.terminal_id == "123456789A2" and config.bank_name == "БАНК"
    assert config.poll_interval == 0.5 and config.max_poll_errors == 2
    assert config.check_payload_sum is False
    assert config.tls == SbpTlsOptions(ca_file="/etc/cardcore/sbp-ca.pem")
    assert config.base_url == "https://sbp-agent.example:8443"
    assert SbpConfig.from_mapping(config.to_mapping()) == config


@pytest.mark.parametrize(
    "change",
    [
        {"agent-url": "ftp://x"},
        {"agent-url": "http://"},
        {"agent-url": "https://agent.example/?token=1"},
        {"terminal-id": " "},
        {"merchant-id": ""},
        {"poll-interval": 0},
        {"poll-interval": "nan"},
        {"request-timeout": -1},
        {"qr-lifetime": "inf"},
        {"refund-wait": -1},
        {"max-poll-errors": -1},
        {"tls": {"client-key-file": "k.pem"}},
        {"tls": {"unknown": 1}},
        {"surprise": 1},
        {"poll-interval": "soon"},
    ],
)
def test_invalid_configuration(change: dict[str, Any]) -> None:
    with pytest.raises(SbpConfigError) as caught:
        SbpConfig.from_mapping(BASE | change)
    assert status_of(caught.value) == "invalidarguments"


def test_missing_required_key() -> None:
    with pytest.raises(SbpConfigError):
        SbpConfig.from_mapping({"agent-url": "http://x"})


def test_secret_never_in_repr() -> None:
    config = SbpConfig.from_mapping(BASE | {"secret-key": "eyJ0eXAiOiJKV1Q.secret"})
    assert "secret" not in repr(config).replace("secret_key", "")
    assert "eyJ0" not in str(config) and "eyJ0" not in f"{config!r}"


def test_ssl_context_choices(tmp_path: Any) -> None:
    default = SbpConfig.from_mapping(BASE).ssl_context()
    assert isinstance(default, ssl.SSLContext) and default.verify_mode == ssl.CERT_REQUIRED
    assert SbpConfig.from_mapping(BASE | {"tls": {"verify": False}}).ssl_context() is False
    with pytest.raises(SbpConfigError):
        SbpConfig.from_mapping(
            BASE | {"tls": {"ca-file": str(tmp_path / "absent.pem")}}
        ).ssl_context()
