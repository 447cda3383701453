"""Config reload: valid files apply their hot keys at once, invalid ones change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from control_parts import Parts, build_parts, close_parts

from proxy.core.config import Phase
from proxy.ops.reload import changed_keys


def _write(path: Path, **sections: Any) -> None:
    base: dict[str, Any] = {
        "migration": {"initial_phase": "canary", "state_path": str(path.parent / "state.sqlite")},
        "journal": {"path": str(path.parent / "journal.sqlite")},
        "canary": {"percent": 10},
        "shadow": {"sample_rate": 0.1},
    }
    for section, values in sections.items():
        base.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(base))


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    path = tmp_path / "vecbridge.yaml"
    _write(path)
    built = await build_parts(tmp_path, config_path=path)
    assert built.phases.current is Phase.CANARY
    yield built
    await close_parts(built)


def test_changed_keys_are_dotted_leaves() -> None:
    old = {"canary": {"percent": 1, "ramp": {"steps": []}}, "guard": {"x": 1}}
    new = {"canary": {"percent": 2, "ramp": {"steps": [1]}}, "guard": {"x": 1}}
    assert changed_keys(old, new) == ["canary.percent", "canary.ramp.steps"]


async def test_valid_reload_applies_hot_keys(parts: Parts) -> None:
    path = parts.plane.reloader.path
    assert path is not None
    _write(
        path, canary={"percent": 50}, shadow={"sample_rate": 0.5},
        guard={"max_error_rate": 0.2}, webhooks={"endpoints": [{"url": "http://x/"}]},
    )  # fmt: skip
    result = parts.plane.reloader.reload("test")
    assert result.ok and result.restart_required == ()
    assert set(result.applied) == {
        "canary.percent", "shadow.sample_rate", "guard.max_error_rate", "webhooks.endpoints",
    }  # fmt: skip
    assert parts.live.values.canary_active_percent == 50
    assert parts.live.values.shadow_sample_rate == 0.5
    assert parts.plane.guard.guard.config.max_error_rate == 0.2
    assert len(parts.plane.notifier.config.endpoints) == 1
    assert parts.metric("vecbridge_canary_percent") == 50


async def test_invalid_reload_keeps_the_running_config(parts: Parts) -> None:
    path = parts.plane.reloader.path
    assert path is not None
    before = parts.plane.reloader.current
    _write(path, canary={"percent": 150})
    result = parts.plane.reloader.reload("test")
    assert not result.ok and result.error is not None and "canary.percent" in result.error
    _write(path, guard={"max_eror_rate": 0.1})
    result = parts.plane.reloader.reload("test")
    assert not result.ok and "guard.max_eror_rate" in str(result.error)
    path.write_text("canary: [unclosed")
    assert not parts.plane.reloader.reload("test").ok
    assert parts.plane.reloader.current is before
    assert parts.live.values.canary_percent == 10
    assert parts.plane.status()["reload"]["last"]["ok"] is False


async def test_cold_keys_are_reported_not_applied(parts: Parts) -> None:
    path = parts.plane.reloader.path
    assert path is not None
    old_port = parts.plane.reloader.current.listen.port
    _write(path, listen={"port": 9999}, canary={"percent": 20})
    result = parts.plane.reloader.reload("test")
    assert result.ok and result.restart_required == ("listen.port",)
    assert parts.plane.reloader.current.listen.port == old_port
    assert parts.live.values.canary_percent == 20


async def test_operator_value_survives_an_unrelated_reload(parts: Parts) -> None:
    path = parts.plane.reloader.path
    assert path is not None
    await parts.plane.controller.set_canary(30)
    _write(path, guard={"min_samples": 5})
    assert parts.plane.reloader.reload("test").ok
    assert parts.live.values.canary_percent == 30  # the config's canary.percent did not change


async def test_file_change_is_noticed(parts: Parts) -> None:
    path = parts.plane.reloader.path
    assert path is not None
    assert not parts.plane.reloader.file_changed()
    _write(path, canary={"percent": 40})
    assert parts.plane.reloader.file_changed()
    parts.plane.reloader.reload("file")
    assert not parts.plane.reloader.file_changed()
