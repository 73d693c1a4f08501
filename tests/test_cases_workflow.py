"""The case workflow on both backends: legal and illegal transitions, history, deadlines,
overdue cases, the scorecard and repeat detection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from statistics import median

import pytest

from gis.cases import CaseNotFound, DispatchInputError, IllegalTransition
from gis.cases.config import load_table
from gis.cases.workflow import ACTIONS, STATES, CaseBook, Place
from gis.store.base import Store


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, hours: float) -> None:
        self.now += timedelta(hours=hours)


@pytest.fixture()
def book(store_factory: Callable[[], Store]) -> tuple[CaseBook, Clock]:
    clock = Clock()
    return CaseBook(store_factory(), load_table(), clock=clock), clock  # type: ignore[arg-type]


def test_lifecycle_is_recorded(book: tuple[CaseBook, Clock]) -> None:
    cases, clock = book
    c = cases.create("晚上工地打桩很吵", "噪音扰民", actor="12345 坐席")
    assert c["state"] == "受理" and c["department"] == "住建"  # place rule: construction
    assert c["deadline_at"] == "2026-03-04T08:00:00Z"  # 48 h
    cid = c["id"]
    clock.advance(1)
    cases.transition(cid, "dispatch", actor="指挥中心")
    clock.advance(1)
    cases.transition(cid, "reassign", department="生态环境", actor="指挥中心", note="是酒吧")
    cases.transition(cid, "start", actor="生态环境局")
    clock.advance(5)
    cases.transition(cid, "close", actor="生态环境局")
    c = cases.transition(cid, "rate", rating=4, actor="市民")
    assert c["state"] == "评价" and c["rating"] == 4 and c["department"] == "生态环境"
    assert c["closed_at"] == "2026-03-02T15:00:00Z"
    hist = [(t["action"], t["from_state"], t["to_state"]) for t in c["transitions"]]
    assert hist == [("receive", None, "受理"), ("dispatch", "受理", "分拨"),
                    ("reassign", "分拨", "分拨"), ("start", "分拨", "处置"),
                    ("close", "处置", "办结"), ("rate", "办结", "评价")]
    assert [t["actor"] for t in c["transitions"]][-1] == "市民"
    assert c["transitions"][2]["note"] == "是酒吧"


def test_every_illegal_transition_is_refused_and_writes_nothing(
        book: tuple[CaseBook, Clock]) -> None:
    cases, _ = book
    # Bring one case into each state, then try every action on it.
    path = {"受理": [], "分拨": ["dispatch"], "处置": ["dispatch", "start"],
            "办结": ["dispatch", "start", "close"],
            "评价": ["dispatch", "start", "close", "rate"]}
    for state in STATES:
        cid = cases.create("井盖不见了", "井盖缺失")["id"]
        for a in path[state]:
            cases.transition(cid, a, rating=5 if a == "rate" else None)
        before = cases.get(cid)
        assert before["state"] == state
        for action, (allowed, _) in ACTIONS.items():
            if state in allowed:
                continue
            with pytest.raises(IllegalTransition):
                cases.transition(cid, action, department="市政", rating=3)
            after = cases.get(cid)
            assert after == before


def test_return_and_reopen(book: tuple[CaseBook, Clock]) -> None:
    cases, _ = book
    cid = cases.create("垃圾堆了三天", "垃圾暴露")["id"]
    cases.transition(cid, "dispatch")
    assert cases.transition(cid, "return", note="不属本部门")["state"] == "受理"
    cases.transition(cid, "dispatch", department="街道")
    cases.transition(cid, "start")
    cases.transition(cid, "close")
    c = cases.transition(cid, "reopen")
    assert c["state"] == "处置" and c["reopened"] == 1 and c["closed_at"] is None
    assert c["department"] == "街道"


def test_bad_input(book: tuple[CaseBook, Clock]) -> None:
    cases, _ = book
    with pytest.raises(DispatchInputError):
        cases.create("x", "不存在的类别")
    cid = cases.create("x", "积水")["id"]
    with pytest.raises(DispatchInputError):
        cases.transition(cid, "fly")
    with pytest.raises(DispatchInputError):
        cases.transition(cid, "dispatch", department="不存在")
    with pytest.raises(CaseNotFound):
        cases.transition("C-none", "dispatch")


def test_overdue_and_scorecard(book: tuple[CaseBook, Clock]) -> None:
    cases, clock = book
    a = cases.create("路口积水", "积水", place=Place(subdistrict_code="440303001"))["id"]
    b = cases.create("乱停车", "违章停车", place=Place(subdistrict_code="440303002"))["id"]
    c = cases.create("又积水了", "积水", place=Place(subdistrict_code="440303001"))["id"]
    for cid in (a, b, c):
        cases.transition(cid, "dispatch")
        cases.transition(cid, "start")
    clock.advance(2)
    cases.transition(a, "close")           # 积水: 2 h, on time (6 h)
    clock.advance(6)                         # now 8 h after receipt
    assert [x["id"] for x in cases.overdue()] == [c]  # 积水 6 h passed; 违停 12 h not yet
    assert cases.get(c)["overdue"] and not cases.get(b)["overdue"]
    cases.transition(c, "close")           # 8 h: late
    clock.advance(1)
    cases.transition(c, "reopen")
    cases.transition(c, "close")           # 9 h
    rows = {r["department"]: r for r in cases.scorecard(None, None, "department")}
    assert rows["水务"]["received"] == 2 and rows["水务"]["closed"] == 2
    assert rows["水务"]["closed_on_time"] == 1
    assert rows["水务"]["median_hours_to_close"] == median([2.0, 9.0])
    assert rows["水务"]["reopen_rate"] == 0.5
    assert rows["交警"]["closed"] == 0 and rows["交警"]["median_hours_to_close"] is None
    subs = {r["subdistrict"]: r["received"] for r in cases.scorecard(
        "2026-03-01", "2026-03-03", "subdistrict")}
    assert subs == {"440303001": 2, "440303002": 1}
    assert cases.scorecard("2026-04-01", "2026-05-01") == []


def test_repeat_same_address_or_within_50_m(book: tuple[CaseBook, Clock]) -> None:
    cases, clock = book
    first = cases.create("油烟直排", "油烟污染", place=Place(address_id="A1", lon=114.1,
                                                             lat=22.55))["id"]
    clock.advance(24)
    again = cases.create("油烟又来了", "油烟污染", place=Place(address_id="A1"))
    assert again["repeat_of"] == first and not again["repeats_closed"]
    for a in ("dispatch", "start", "close"):
        cases.transition(first, a)
    assert cases.get(again["id"])["repeats_closed"]  # the complaint came back
    # 40 m north: a repeat; 70 m south (110 m from the 40 m one): not; other category: not.
    d = 1 / 111_320.0
    assert cases.create("油烟", "油烟污染", place=Place(lon=114.1, lat=22.55 + 40 * d))[
        "repeat_of"] == first
    assert cases.create("油烟", "油烟污染", place=Place(lon=114.1, lat=22.55 - 70 * d))[
        "repeat_of"] is None
    assert cases.create("噪音", "噪音扰民", place=Place(address_id="A1"))["repeat_of"] is None
    clock.advance(24 * 40)  # past the 30-day window
    assert cases.create("油烟", "油烟污染", place=Place(address_id="A1"))["repeat_of"] is None
