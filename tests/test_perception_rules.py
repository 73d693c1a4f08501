"""Rules file validation, levels, clear level and parsing of readings (no server)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
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


def test_levels_of_a_series_equal_the_reading_by_reading_levels(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("types:\n  w: {threshold: 1.0, levels: [1.0, 1.5, 3.0], rate_of_rise: 0.5,"
                 " interval_s: 60, offline_after: 2}\n"
                 "  q: {threshold: 1.0, levels: [1.0, 2.0], interval_s: 60,"
                 " offline_after: 2, alerts: false}\n", encoding="utf-8")
    rules = load_rules(p)
    rng = np.random.default_rng(3)
    for typ in ("w", "q"):
        r = rules.for_sensor("S", typ)
        for prev in (None, (1_000, 0.2)):
            # Repeated instants and falls as well as rises.
            ts = np.sort(rng.integers(1_000, 40_000, 400)).astype(np.int64)
            values = rng.gamma(1.5, 0.8, 400)
            got = r.levels_of(values, ts, prev)
            want, before = [], prev
            for t, v in zip(ts.tolist(), values.tolist(), strict=True):
                want.append(r.level(v, before, t))
                before = (t, v)
            assert got.tolist() == want
            assert typ == "q" or max(want) == 3  # the comparison reaches every level


def test_canonical_instants_parse_as_fromisoformat_does() -> None:
    """The vectorised path of parse_payload against datetime.fromisoformat, brute force
    over valid and impossible dates (month 0/13, day 0/32, hour 24, leap years)."""
    rng = np.random.default_rng(4)
    years = [1, 4, 1600, 1900, 1969, 2000, 2024, 2026, 9999]
    texts = [f"{rng.choice(years):04d}-{rng.integers(0, 14):02d}-{rng.integers(0, 33):02d}T"
             f"{rng.integers(0, 25):02d}:{rng.integers(0, 61):02d}:{rng.integers(0, 61):02d}Z"
             for _ in range(5000)]
    valid = 0
    for t in texts:
        try:
            want: int | None = int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())
        except ValueError:
            want = None
        if want is None:
            with pytest.raises(BadReading, match=r"^t\[0\]"):
                parse_payload([{"t": t, "value": 1.0}], now=1e12)
        else:
            valid += 1
            assert parse_payload([{"t": t, "value": 1.0}], now=1e12)[0].tolist() == [want]
    assert 1000 < valid < 4000
    # A whole batch in one call, against the element-by-element parse.
    ok = [t for t in texts if _valid(t)]
    ts, vals = parse_payload([{"t": t, "value": i} for i, t in enumerate(ok)], now=1e12)
    assert ts.tolist() == [int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())
                           for t in ok]
    assert vals.tolist() == [float(i) for i in range(len(ok))]
    # One bad element in a canonical batch is still named by its index.
    bad = [{"t": "2026-12-04T08:00:00Z", "value": 1.0}, {"t": "2026-02-29T08:00:00Z",
                                                          "value": 1.0}]
    with pytest.raises(BadReading, match=r"^t\[1\]"):
        parse_payload(bad, now=1e12)


def _valid(t: str) -> bool:
    try:
        datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
