"""The address parser and its normalisation, on the real admin names and a small
hand-made gazetteer of roads and estates (``tests/data/address/gazetteer.json``).

The labelled evaluation sets live in ``tests/data/address``: ``parse_cases.jsonl``
(composed from known components by ``make_parse_cases.py``) and
``parse_cases_hand.jsonl`` (written by hand). Their exact-match rate is a
quality figure asserted here; timings are in ``bench/bench_address.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from address.evaluate import evaluate_parser, load_cases
from address.gazetteer import Gazetteer, within_one_edit
from address.normalize import cn_to_int, digit_variant, normalize
from address.parser import COMPONENTS, AddressParser, format_address, house_number_of, parse

DATA = Path(__file__).resolve().parent / "data" / "address"


@pytest.fixture(scope="module")
def parser() -> AddressParser:
    gaz = json.loads((DATA / "gazetteer.json").read_text(encoding="utf-8"))
    return AddressParser(Gazetteer.luohu(roads=gaz["roads"], pois=gaz["estates"]))


def comps(p: AddressParser, text: str) -> dict[str, str | None]:
    return {k: v for k, v in p.parse(text).components.items() if v is not None}


# -- normalisation --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("十二", 12), ("二十", 20), ("十", 10), ("一千零三", 1003), ("一二零三", 1203),
    ("两", 2), ("二〇〇一", 2001), ("一百一十", 110),
])
def test_cn_to_int(text: str, expected: int) -> None:
    assert cn_to_int(text) == expected


def test_cn_to_int_rejects() -> None:
    with pytest.raises(ValueError):
        cn_to_int("十二a")
    with pytest.raises(ValueError):
        cn_to_int("")


@pytest.mark.parametrize(("text", "expected"), [
    ("Ａ座１２０３", "A座1203"),
    ("a幢 十二楼 一二零三室", "A幢12楼1203室"),
    ("第三栋二单元", "3栋2单元"),
    ("第3栋", "3栋"),
    ("2001号之三", "2001号之3"),
    ("田贝一路8号", "田贝一路8号"),
    ("湖贝花园二期", "湖贝花园2期"),
    ("市民反映：东门（湖贝）", "市民反映|东门|湖贝"),
    ("12/F", "12F"),
    ("负一楼", "-1楼"),
    ("地下2层", "-2层"),
    ("東門中路2001號", "东门中路2001号"),
    ("1单元七零二", "1单元702"),
    ("  ，罗湖区 ， ", "罗湖区"),
])
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_digit_variant_and_edit_distance() -> None:
    assert digit_variant("田贝一路") == "田贝1路"
    assert digit_variant("东门中路") is None
    assert within_one_edit("湖贝大厦", "湖贝大夏")
    assert within_one_edit("湖贝大厦", "湖大厦")
    assert within_one_edit("湖贝大厦", "湖贝贝大厦")
    assert within_one_edit("湖贝大厦", "贝湖大厦")
    assert not within_one_edit("湖贝大厦", "湖滨大楼")


# -- components -----------------------------------------------------------------------


def test_standard_address(parser: AddressParser) -> None:
    p = parser.parse("广东省深圳市罗湖区东门街道湖贝社区东门中路2001号湖贝大厦A座")
    assert p.components == {
        "province": "广东省", "city": "深圳市", "district": "罗湖区", "subdistrict": "东门街道",
        "community": "湖贝社区", "road": "东门中路", "house_number": "2001", "poi": "湖贝大厦",
        "building": "A", "unit": None, "floor": None, "room": None}
    assert p.normalized == "广东省深圳市罗湖区东门街道湖贝社区东门中路2001号湖贝大厦A座"
    assert set(p.as_dict()) == {"input", "normalized", "components"}


def test_parents_are_filled(parser: AddressParser) -> None:
    assert comps(parser, "深圳罗湖东门中路") == {
        "province": "广东省", "city": "深圳市", "district": "罗湖区", "road": "东门中路"}
    assert comps(parser, "湖贝社区") == {
        "province": "广东省", "city": "深圳市", "district": "罗湖区", "subdistrict": "东门街道",
        "community": "湖贝社区"}
    assert comps(parser, "深圳") == {"province": "广东省", "city": "深圳市"}
    assert comps(parser, "东门中路2001号") == {"road": "东门中路", "house_number": "2001"}


@pytest.mark.parametrize(("text", "key", "value"), [
    ("湖贝大厦A座", "building", "A"), ("湖贝大厦A栋", "building", "A"),
    ("湖贝大厦A号楼", "building", "A"), ("湖贝大厦a幢", "building", "A"),
    ("湖贝大厦Ａ座", "building", "A"), ("翠竹苑三栋", "building", "3"),
    ("翠竹苑第3栋", "building", "3"), ("翠竹苑2单元", "unit", "2"),
    ("湖贝大厦12楼", "floor", "12"), ("湖贝大厦12层", "floor", "12"),
    ("湖贝大厦12F", "floor", "12"), ("湖贝大厦十二楼", "floor", "12"),
    ("湖贝大厦A座1203室", "room", "1203"), ("湖贝大厦A座1203房", "room", "1203"),
    ("东门中路2001号之3", "house_number", "2001-3"), ("东门中路2001-3号", "house_number", "2001-3"),
    ("东门中路2001号", "house_number", "2001"),
])
def test_component_forms(parser: AddressParser, text: str, key: str, value: str) -> None:
    assert parser.parse(text)[key] == value


def test_hotline_text_around_the_address(parser: AddressParser) -> None:
    assert comps(parser, "市民反映：罗湖区东门街道东门中路2001号湖贝大厦A座门口垃圾堆放") == {
        "province": "广东省", "city": "深圳市", "district": "罗湖区", "subdistrict": "东门街道",
        "road": "东门中路", "house_number": "2001", "poi": "湖贝大厦", "building": "A"}


def test_swapped_order(parser: AddressParser) -> None:
    a = comps(parser, "湖贝大厦A座，东门中路2001号，罗湖区东门街道")
    b = comps(parser, "罗湖区东门街道东门中路2001号湖贝大厦A座")
    assert a == b


def test_estate_typo_corrected(parser: AddressParser) -> None:
    p = parser.parse("东门中路2001号湖贝大夏A座")
    assert p["poi"] == "湖贝大厦" and p.corrected == {"poi": "湖贝大夏"}
    p = parser.parse("胡贝大厦门口垃圾堆放")
    assert p["poi"] == "湖贝大厦"


def test_unknown_names_by_suffix(parser: AddressParser) -> None:
    assert comps(parser, "文华路88号康宁大厦B座") == {
        "road": "文华路", "house_number": "88", "poi": "康宁大厦", "building": "B"}
    assert comps(parser, "北京市朝阳区建国路88号") == {
        "city": "北京市", "road": "建国路", "house_number": "88"}


def test_ambiguous_short_names(parser: AddressParser) -> None:
    # 东门 alone is the subdistrict; after 东门街道 it is the community
    assert parser.parse("东门")["subdistrict"] == "东门街道"
    p = parser.parse("东门街道东门")
    assert (p["subdistrict"], p["community"]) == ("东门街道", "东门社区")
    # a short name directly followed by an estate suffix is part of the estate name
    p = parser.parse("湖贝苑3栋")
    assert p["community"] is None and p["poi"] == "湖贝苑"
    # ...but before another name it is the community (湖贝 + 金丽花园)
    p = parser.parse("湖贝金丽花园3栋")
    assert (p["community"], p["poi"]) == ("湖贝社区", "金丽花园")
    # a space after it makes it a word of its own
    p = parser.parse("罗湖区翠竹 新村 金湖花园1栋")
    assert (p["subdistrict"], p["community"]) == ("翠竹街道", "新村社区")


def test_not_an_address(parser: AddressParser) -> None:
    for text in ("今天天气很好", "请问怎么办理居住证", "12345", ""):
        assert parser.parse(text).is_empty, text


def test_house_number_and_format_helpers() -> None:
    assert house_number_of("2001号之3") == "2001-3"
    assert house_number_of("2001之3号") == "2001-3"
    assert house_number_of("0088号") == "88"
    assert format_address({"road": "春风路", "building": "3", "unit": "2", "room": "301"}) == (
        "春风路3栋2单元301室")


def test_default_parser_knows_admin_units() -> None:
    p = parse("罗湖区东门街道湖贝社区")
    assert (p["district"], p["subdistrict"], p["community"]) == ("罗湖区", "东门街道", "湖贝社区")
    assert set(p.components) == set(COMPONENTS)


# -- the labelled evaluation sets -------------------------------------------------------


def test_evaluation_sets_are_large_and_messy() -> None:
    gen = load_cases(DATA / "parse_cases.jsonl")
    hand = load_cases(DATA / "parse_cases_hand.jsonl")
    cases = gen + hand
    assert len(cases) >= 300
    assert sum(bool(c["messy"]) for c in cases) >= len(cases) / 2
    for c in cases:
        assert set(c["expected"]) <= set(COMPONENTS), c


@pytest.mark.parametrize("name", ["parse_cases.jsonl", "parse_cases_hand.jsonl"])
def test_parse_exact_match_rate(parser: AddressParser, name: str) -> None:
    res = evaluate_parser(parser.parse, load_cases(DATA / name))
    shown = [(t, {k: (w[k], g.get(k)) for k in w if w[k] != g.get(k)})
             for t, w, g in res.failures[:10]]
    assert res.exact_rate >= 0.95, shown
    assert res.messy_exact / res.messy_n >= 0.93, shown


def test_a_three_digit_unit() -> None:
    """The city build's largest buildings have over 99 units (龙华's 113单元402室 was read
    as no unit at all)."""
    p = parse("解放路601号华清家园12栋113单元402室")
    assert (p["building"], p["unit"], p["room"]) == ("12", "113", "402")
