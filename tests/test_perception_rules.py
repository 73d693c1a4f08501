"""Rules file validation, levels, clear level and parsing of readings (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gis.perception.errors import BadReading, RulesConfigError
from gis.perception.readings import parse_payload
from gis.perception.rules import load_rules


def test_default_rules_cover_every_demo_sensor_type() -> None:
    rules = load_rules()
    for t in ("waterlogging", "rainwater_pipe_flow", "outfall_flow", "water_quality", "smoke",
              "temperature", "electrical_fire"):
        r = rules.for_sensor("X", t)
        assert r.clear == pytest.approx(0.9 * r.threshold)


def test_levels_rate_of_rise_and_overrides(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("types:\n  w: {threshold: 1.0, levels: [1.0, 2.0, 3.0], rate_of_rise: 1.0,"
                 " interval_s: 60, offline_after: 2}\n"
                 "overrides:\n  S1: {threshold: 10.0, clear: 5.0}\n", encoding="utf-8")
    rules = load_rules(p)
    r = rules.for_sensor("S0", "w", own_threshold=2.0)  # the sensor's own threshold wins
    assert r.threshold == 2.0 and r.clear == pytest.approx(1.8)
    assert [r.level(v) for v in (1.9, 2.0, 4.0, 6.0, 99.0)] == [0, 1, 2, 3, 3]
    # +1 in 30 min = 2/h >= 1/h: one level up, capped at the number of levels.
    assert r.level(2.0, (0, 1.0), 1800) == 2
    assert r.level(6.0, (0, 1.0), 1800) == 3
    assert r.level(1.0, (0, 0.0), 1800) == 0  # a fast rise below threshold is no alert
    o = rules.for_sensor("S1", "w", own_threshold=2.0)
    assert o.threshold == 10.0 and o.clear == 5.0


@pytest.mark.parametrize("text, word", [
    ("types:\n  w: {threshold: 1.0, levels: [1.0, 0.5], interval_s: 60, offline_after: 2}\n",
     "levels"),
    ("types:\n  w: {threshold: 1.0, levels: [1.0]}\n", "missing"),
    ("types:\n  w: {threshold: -1, levels: [1.0], interval_s: 1, offline_after: 1}\n",
     "threshold"),
    ("types:\n  w: {threshold: 1, levels: [1.0], interval_s: 1, offline_after: 1, x: 2}\n",
     "x"),
    ("types: [\n", "YAML"),
])
def test_bad_rules_files_are_refused(tmp_path: Path, text: str, word: str) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(RulesConfigError, match=word):
        load_rules(p)


def test_clear_above_threshold_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("types:\n  w: {threshold: 1.0, clear: 2.0, levels: [1.0], interval_s: 60,"
                 " offline_after: 2}\n", encoding="utf-8")
    with pytest.raises(RulesConfigError, match="clear"):
        load_rules(p).for_sensor("S", "w")


def test_parse_payload() -> None:
    ts, v = parse_payload([{"t": "2026-12-04T08:00:00Z", "value": 1},
                           {"t": "2026-12-04T16:00:00+08:00", "value": 2.5}], now=2e9)
    assert list(ts) == [1796371200, 1796371200] and list(v) == [1.0, 2.5]
    with pytest.raises(BadReading, match=r"value\[1\]"):
        parse_payload([{"t": "2026-12-04T08:00:00Z", "value": 1},
                       {"t": "2026-12-04T08:00:00Z", "value": float("nan")}], now=2e9)
    with pytest.raises(BadReading, match="future"):
        parse_payload({"t": "2026-12-04T08:06:00Z", "value": 1}, now=1796371200)
    parse_payload({"t": "2026-12-04T08:04:59Z", "value": 1}, now=1796371200)
