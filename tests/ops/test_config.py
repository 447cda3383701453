"""The shipped config, its validation, and environment overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from harness import REPO

from proxy.core.config import ConfigError, Phase, load_config, parse_config


def test_shipped_config_is_the_embedded_default() -> None:
    shipped = (REPO / "config.yaml").read_text()
    assert shipped == (REPO / "proxy" / "default_config.yaml").read_text()
    config = load_config(REPO / "config.yaml", environ={})
    assert config.listen.port == 8000
    assert config.source.url is None and config.target.url is None
    assert config.migration.initial_phase is Phase.MIRROR
    assert config.journal.path == REPO / "data" / "journal.sqlite"


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"listen": {"prot": 8000}}, "listen.prot"),
        ({"canary": {"percent": 101}}, "canary.percent"),
        ({"shadow": {"sample_rate": -0.1}}, "shadow.sample_rate"),
        ({"bogus": {}}, "bogus"),
    ],
)
def test_bad_keys_and_values_name_their_path(raw: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(where)):
        parse_config(raw)


def test_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("listen: {port: 9000}\n")
    env = {
        "VECBRIDGE_LISTEN__PORT": "9100",
        "VECBRIDGE_TARGET__API_KEY": "12345",
        "VECBRIDGE_CANARY__PERCENT": "12.5",
    }
    config = load_config(path, environ=env)
    assert config.listen.port == 9100
    assert config.canary.percent == 12.5
    assert config.target.api_key is not None
    assert config.target.api_key.get_secret_value() == "12345"
    assert "12345" not in repr(config)
    with pytest.raises(ConfigError, match=r"canary\.percent"):
        load_config(path, environ={"VECBRIDGE_CANARY__PERCENT": "250"})
