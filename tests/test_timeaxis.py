import pytest

from gis.errors import InvalidQuery
from gis.model import SCHEMAS
from gis.timeaxis import parse_as_of


def test_instant_and_interval() -> None:
    t = parse_as_of("2022-01-01")
    assert t is not None and t.is_instant and t.start == "2022-01-01"
    i = parse_as_of("2021-01-01/..")
    assert i is not None and i.start == "2021-01-01" and i.end is None
    dt = parse_as_of("2022-01-01T08:00:00+08:00")
    assert dt is not None and dt.start == "2022-01-01T00:00:00Z"


@pytest.mark.parametrize("bad", ["", "yesterday", "2022-13-01", "2022-02-01/2021-01-01", "../.."])
def test_bad_as_of(bad: str) -> None:
    with pytest.raises(InvalidQuery):
        parse_as_of(bad)


def test_event_interval_selects_occurrences() -> None:
    t = parse_as_of("2021-01-01/2021-12-31")
    assert t is not None
    sql, params = t.sql(SCHEMAS["event"])
    assert "occurred_at >= ?" in sql and params == ["2021-01-01", "2021-12-31T23:59:59Z"]
