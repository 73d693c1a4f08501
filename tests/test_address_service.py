"""The address service on a tiny hand-made district (every answer known by construction).

Layout (WGS84, around 114.12 E 22.55 N)::

    桂园街道 / 红岭社区        东门街道 / 东门社区       东门街道 / 湖贝社区
    114.105 ─────────── 114.115 ─────────── 114.120 ─────────── 114.125
      B5 红岭中路1号 华丽花园1栋   B3 春风路18号 翠竹苑1栋     B1 东门中路2001号 湖贝大厦A座
      B6 红岭中路3号 湖贝大楼1栋   B4 春风路20号 翠竹苑2栋     B2 东门中路2003号 湖贝大厦B座
                                B7 春风路18号 翠竹苑3栋 (a door plate of two buildings)

Houses: B1 rooms 1201, 1202 (offices, no unit); B3 units 1-2 × rooms 101, 102, 201;
B5 unit 1 room 101.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from address.errors import AddressInputError
from address.evaluate import evaluate_geocoder
from address.ingest import resolve_frame
from address.service import AddressService
from gis.crs import wgs84_to_bd09, wgs84_to_gcj02
from gis.store.gpkg import GeoPackageStore

S_DONGMEN, S_GUIYUAN = "440303003", "440303001"
C_HUBEI, C_DONGMEN, C_HONGLING = "440303003001", "440303003020", "440303001005"


def _mp(x0: float, x1: float) -> shapely.MultiPolygon:
    return shapely.MultiPolygon([shapely.box(x0, 22.545, x1, 22.555)])


def _gdf(rows: Sequence[Mapping[str, Any]], geoms: Sequence[Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))


BUILDINGS = [
    # id, x, y, road, number, estate, building_no, use, community
    ("B1", 114.1220, 22.5490, "东门中路", "2001", "湖贝大厦", "A", "office", C_HUBEI),
    ("B2", 114.1222, 22.5510, "东门中路", "2003", "湖贝大厦", "B", "office", C_HUBEI),
    ("B3", 114.1170, 22.5490, "春风路", "18", "翠竹苑", "1", "residential", C_DONGMEN),
    ("B4", 114.1172, 22.5510, "春风路", "20", "翠竹苑", "2", "residential", C_DONGMEN),
    ("B5", 114.1100, 22.5490, "红岭中路", "1", "华丽花园", "1", "residential", C_HONGLING),
    ("B6", 114.1102, 22.5510, "红岭中路", "3", "湖贝大楼", "1", "office", C_HONGLING),
    ("B7", 114.1174, 22.5500, "春风路", "18", "翠竹苑", "3", "residential", C_DONGMEN),
]
SUB_OF = {C_HUBEI: S_DONGMEN, C_DONGMEN: S_DONGMEN, C_HONGLING: S_GUIYUAN}
NAME_OF = {S_DONGMEN: "东门街道", S_GUIYUAN: "桂园街道", C_HUBEI: "湖贝社区",
           C_DONGMEN: "东门社区", C_HONGLING: "红岭社区"}


def building_address(b: tuple[object, ...]) -> str:
    _, _, _, road, num, estate, bno, _, com = b
    suffix = "座" if str(bno).isalpha() else "栋"
    return (f"广东省深圳市罗湖区{NAME_OF[SUB_OF[str(com)]]}{NAME_OF[str(com)]}{road}{num}号"
            f"{estate}{bno}{suffix}")


def build_tiny_store(path: Path) -> GeoPackageStore:
    store = GeoPackageStore(path, create=True)
    v = "2000-01-01"
    store.ingest("subdistrict", _gdf(
        [{"id": S_GUIYUAN, "code": S_GUIYUAN, "name": "桂园街道", "short_name": "桂园",
          "valid_from": v, "subdistrict_code": S_GUIYUAN},
         {"id": S_DONGMEN, "code": S_DONGMEN, "name": "东门街道", "short_name": "东门",
          "valid_from": v, "subdistrict_code": S_DONGMEN}],
        [_mp(114.105, 114.115), _mp(114.115, 114.125)]))
    store.ingest("community", _gdf(
        [{"id": c, "code": c, "name": NAME_OF[c] + "居民委员会", "short_name": NAME_OF[c],
          "subdistrict_code": SUB_OF[c], "community_code": c, "valid_from": v}
         for c in (C_HONGLING, C_DONGMEN, C_HUBEI)],
        [_mp(114.105, 114.115), _mp(114.115, 114.120), _mp(114.120, 114.125)]))
    store.ingest("grid", _gdf(
        [{"id": c + "01", "code": c + "01", "name": NAME_OF[c] + "第01网格", "valid_from": v}
         for c in (C_HONGLING, C_DONGMEN, C_HUBEI)],
        [_mp(114.105, 114.115), _mp(114.115, 114.120), _mp(114.120, 114.125)]))
    store.ingest("road", _gdf(
        [{"id": "R1", "name": "东门中路", "road_class": "arterial", "valid_from": v},
         {"id": "R2", "name": "春风路", "road_class": "secondary", "valid_from": v},
         {"id": "R3", "name": "红岭中路", "road_class": "arterial", "valid_from": v},
         {"id": "R4", "name": "解放路", "road_class": "secondary", "valid_from": v}],
        [shapely.LineString([(114.1230, 22.546), (114.1230, 22.554)]),
         shapely.LineString([(114.1180, 22.546), (114.1180, 22.554)]),
         shapely.LineString([(114.1110, 22.546), (114.1110, 22.554)]),
         shapely.LineString([(114.106, 22.5500), (114.124, 22.5500)])]))
    store.ingest("building", _gdf(
        [{"id": b[0], "address_id": f"A{i + 1:04d}", "road": b[3], "house_number": b[4],
          "estate": b[5], "building_no": b[6], "use": b[7], "floors": 20,
          "name": f"{b[5]}{b[6]}", "address": building_address(b), "valid_from": v}
         for i, b in enumerate(BUILDINGS)],
        [shapely.box(float(b[1]) - 0.0001, float(b[2]) - 0.0001, float(b[1]) + 0.0001,
                     float(b[2]) + 0.0001) for b in BUILDINGS]))
    houses: list[dict[str, Any]] = []
    pts: list[shapely.Point] = []
    for bid, unit, room in ([("B1", None, "1201"), ("B1", None, "1202")]
                            + [("B3", str(u), r) for u in (1, 2) for r in ("101", "102", "201")]
                            + [("B5", "1", "101")]):
        b = next(x for x in BUILDINGS if x[0] == bid)
        base = building_address(b)
        houses.append({"id": f"H{len(houses) + 1}", "building_id": bid, "unit": unit,
                       "floor": int(room[:-2]), "room": room, "use": "dwelling" if unit
                       else "office", "valid_from": v,
                       "address_id": f"A{BUILDINGS.index(b) + 1:04d}-{len(houses) + 1:04d}",
                       "address": base + (f"{unit}单元" if unit else "") + f"{room}室"})
        pts.append(shapely.Point(float(b[1]), float(b[2])))
    store.ingest("house", _gdf(houses, pts))
    return store


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("address_tiny")
    build_tiny_store(d / "onemap.gpkg").close()
    return d


@pytest.fixture(scope="module")
def svc(tiny_dir: Path) -> Iterator[AddressService]:
    store = GeoPackageStore(tiny_dir / "onemap.gpkg")
    yield AddressService.from_store(store)
    store.close()


def top(svc: AddressService, text: str) -> tuple[str, str, float]:
    found = svc.geocode(text, 5)
    assert found, text
    return found[0].address, found[0].level, found[0].score


# -- registry -------------------------------------------------------------------------


def test_registry_levels_and_ids(svc: AddressService) -> None:
    counts = svc.registry.counts()
    # door plates and estates of a single building are that building's entry
    assert counts == {"room": 9, "building": 7, "house_number": 1, "poi": 2, "road": 4,
                      "community": 3, "subdistrict": 2, "district": 1}
    frame = svc.registry_frame()
    assert len(frame) == sum(counts.values())
    assert frame["address_id"].is_unique
    assert {"address_id", "address", "level", "block", "geometry"} <= set(frame.columns)
    assert frame.crs.to_epsg() == 4326
    b1 = frame[frame["address_id"] == "A0001"].iloc[0]
    assert b1["address"] == "广东省深圳市罗湖区东门街道湖贝社区东门中路2001号湖贝大厦A座"
    assert b1["level"] == "building"
    room = frame[frame["address"].str.endswith("2单元201室")].iloc[0]
    assert room["level"] == "room" and room["address"].startswith(building_address(BUILDINGS[2]))
    com = frame[frame["level"] == "community"].set_index("address_id")
    assert com.loc["C" + C_HUBEI, "address"] == "广东省深圳市罗湖区东门街道湖贝社区"


def test_registry_ids_are_stable(tiny_dir: Path, svc: AddressService) -> None:
    store = GeoPackageStore(tiny_dir / "onemap.gpkg")
    try:
        again = AddressService.from_store(store)
    finally:
        store.close()
    a = svc.registry_frame().sort_values("address_id")
    b = again.registry_frame().sort_values("address_id")
    assert a["address_id"].tolist() == b["address_id"].tolist()
    assert a["address"].tolist() == b["address"].tolist()


def test_registry_frame_levels(svc: AddressService) -> None:
    rooms = svc.registry_frame(["room"])
    assert len(rooms) == 9 and set(rooms["level"]) == {"room"}
    with pytest.raises(ValueError):
        svc.registry_frame(["nonsense"])


# -- geocode --------------------------------------------------------------------------


def test_exact_building(svc: AddressService) -> None:
    addr, level, score = top(svc, "广东省深圳市罗湖区东门街道湖贝社区东门中路2001号湖贝大厦A座")
    assert (addr, level, score) == (building_address(BUILDINGS[0]), "building", 1.0)


@pytest.mark.parametrize("text", [
    "深圳罗湖东门中路２００１号湖贝大厦ａ座",
    "湖贝大厦A栋",
    "湖贝大厦Ａ座，东门中路2001号",
    "市民反映：罗湖区东门街道东门中路2001号湖贝大厦A座门口垃圾堆放",
    "东门 湖贝 东门中路 2001号 （湖贝大厦） A座",
    "东门中路2001号湖贝大夏A座",
    "东门中路二〇〇一号湖贝大厦A幢",
])
def test_messy_building(svc: AddressService, text: str) -> None:
    assert svc.geocode(text, 1)[0].address_id == "A0001"


def test_room_levels(svc: AddressService) -> None:
    found = svc.geocode("春风路18号翠竹苑1栋2单元201室", 3)
    assert found[0].level == "room" and found[0].address.endswith("1栋2单元201室")
    assert found[0].score == 1.0
    # a room without its unit exists in two units: both are offered, level "house"
    found = svc.geocode("翠竹苑1栋201室", 5)
    assert [c.level for c in found[:2]] == ["house", "house"]
    assert {c.address[-7:] for c in found[:2]} == {"1单元201室", "2单元201室"}
    # an office room with no unit is a room
    found = svc.geocode("湖贝大厦A座1202", 1)
    assert found[0].level == "room" and found[0].address.endswith("A座1202室")


def test_unknown_room_falls_back_to_building(svc: AddressService) -> None:
    found = svc.geocode("湖贝大厦A座9999室", 1)
    assert found[0].level == "building" and found[0].address_id == "A0001"
    assert found[0].score < 1.0


def test_contradiction_lowers_score(svc: AddressService) -> None:
    right = svc.geocode("东门街道湖贝社区东门中路2001号湖贝大厦A座", 1)[0]
    wrong = svc.geocode("东门街道东门社区东门中路2001号湖贝大厦A座", 1)[0]
    assert wrong.address_id == right.address_id == "A0001"
    assert wrong.score < right.score


def test_door_plate_names_its_building(svc: AddressService) -> None:
    # a door plate of one building is that building, matched at house_number level
    found = svc.geocode("东门中路2003号", 3)
    assert found[0].address_id == "A0002" and found[0].level == "house_number"
    assert found[0].score == 1.0 and found[1].level == "road"
    # a door plate of two buildings is an entry of its own
    found = svc.geocode("春风路18号", 3)
    assert found[0].level == "house_number" and found[0].address.endswith("春风路18号")
    assert found[0].address_id.startswith("N")
    assert svc.geocode("春风路18号翠竹苑3栋", 1)[0].address_id == "A0007"
    # an estate of one building is that building, matched at poi level
    found = svc.geocode("华丽花园", 1)[0]
    assert (found.address_id, found.level) == ("A0005", "poi")


def test_estate_with_several_buildings_is_a_poi(svc: AddressService) -> None:
    found = svc.geocode("湖贝大厦", 3)
    assert found[0].level == "poi" and found[0].address.endswith("湖贝大厦")


def test_road_alone_gives_the_road(svc: AddressService) -> None:
    addr, level, score = top(svc, "春风路")
    assert (level, score) == ("road", 1.0) and addr == "广东省深圳市罗湖区春风路"


def test_unknown_number_gives_the_road_lower(svc: AddressService) -> None:
    found = svc.geocode("春风路999号", 1)
    assert found[0].level == "road" and found[0].score < 1.0


def test_crossing_puts_the_road_at_the_crossing(svc: AddressService) -> None:
    found = svc.geocode("春风路与解放路交叉口", 1)[0]
    assert found.level == "road"
    assert found.lon == pytest.approx(114.118, abs=1e-6)
    assert found.lat == pytest.approx(22.55, abs=1e-6)


@pytest.mark.parametrize("text", ["今天天气很好", "北京市朝阳区建国路88号", "福田区深南大道6008号",
                                  "12345", "！！！"])
def test_nothing_plausible_is_empty(svc: AddressService, text: str) -> None:
    assert svc.geocode(text) == []


def test_admin_levels(svc: AddressService) -> None:
    assert top(svc, "罗湖区")[1] == "district"
    assert top(svc, "东门街道")[1:] == ("subdistrict", 1.0)
    addr, level, _ = top(svc, "湖贝社区")
    assert level == "community" and addr.endswith("东门街道湖贝社区")


def test_typo_estate_resolved_by_door_plate(svc: AddressService) -> None:
    # 湖贝大楼 exists (B6) but the door plate 东门中路2001号 holds 湖贝大厦
    assert svc.geocode("东门中路2001号湖贝大楼A座", 1)[0].address_id == "A0001"
    parsed = svc.parse("东门中路2001号湖贝大楼A座")
    assert parsed["poi"] == "湖贝大厦" and parsed.corrected["poi"] == "湖贝大楼"
    assert svc.geocode("湖贝大楼", 1)[0].address_id == "A0006"


def test_limit_and_input_errors(svc: AddressService) -> None:
    assert len(svc.geocode("湖贝大厦", 1)) == 1
    for bad in ("", "   ", "湖" * 501):
        with pytest.raises(AddressInputError):
            svc.geocode(bad)
    with pytest.raises(AddressInputError):
        svc.geocode("湖贝大厦", 0)
    with pytest.raises(AddressInputError):
        svc.parse(None)  # type: ignore[arg-type]


def test_perturbation_evaluation_on_tiny(svc: AddressService) -> None:
    ev = evaluate_geocoder(lambda t: svc.geocode(t, 5), svc.registry, n=300, seed=3)
    assert ev.top1 >= 0.97, ev.failures[:10]


# -- reverse --------------------------------------------------------------------------


def test_reverse_nearest_and_context(svc: AddressService) -> None:
    res = svc.reverse(114.1221, 22.5492, radius=100, limit=5)
    assert [c.address_id for c, _ in res.results][:1] == ["A0001"]
    d = [d for _, d in res.results]
    assert d == sorted(d) and d[0] < 30
    assert all(x <= 100 for x in d)
    ctx = res.context
    assert ctx["subdistrict"]["name"] == "东门街道" and ctx["community"]["code"] == C_HUBEI
    assert ctx["grid"]["code"] == C_HUBEI + "01" and ctx["district"]["name"] == "罗湖区"
    assert isinstance(ctx["block"], str) and len(ctx["block"]) == 15
    gj = res.as_geojson()
    assert gj["features"][0]["properties"]["distance_m"] == d[0]


@pytest.mark.parametrize("coordsys", ["gcj02", "bd09"])
def test_reverse_chinese_coordinate_systems(svc: AddressService, coordsys: str) -> None:
    conv = wgs84_to_gcj02 if coordsys == "gcj02" else wgs84_to_bd09
    x, y = conv(114.1221, 22.5492)
    res = svc.reverse(float(x), float(y), coordsys=coordsys)
    assert res.results[0][0].address_id == "A0001"
    assert res.lon == pytest.approx(114.1221, abs=1e-6)
    # the same numbers read as WGS84 land several hundred metres away
    assert svc.reverse(float(x), float(y), radius=50).results == [] or (
        svc.reverse(float(x), float(y), radius=50).results[0][1] > 0)


def test_reverse_outside_and_errors(svc: AddressService) -> None:
    res = svc.reverse(113.0, 23.0)
    assert res.results == [] and res.context["subdistrict"] is None
    with pytest.raises(AddressInputError):
        svc.reverse(200.0, 22.5)
    with pytest.raises(AddressInputError):
        svc.reverse(114.12, 22.55, radius=0)
    with pytest.raises(AddressInputError):
        svc.reverse(114.12, 22.55, coordsys="epsg3857")


# -- batch and ingest -----------------------------------------------------------------


def test_batch_csv_keeps_every_row(svc: AddressService, tmp_path: Path) -> None:
    from address.batch import geocode_csv

    src = tmp_path / "in.csv"
    dst = tmp_path / "out.csv"
    pd.DataFrame({"id": [1, 2, 3, 4, 5], "地址": [
        "东门中路2001号湖贝大厦A座", "今天天气很好", "", "翠竹苑1栋2单元201室",
        "东门中路2001号湖贝大厦A座"]}).to_csv(src, index=False, encoding="utf-8-sig")
    seen: list[tuple[int, int]] = []
    report = geocode_csv(svc, src, dst, progress=lambda a, b: seen.append((a, b)))
    out = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert out["id"].tolist() == ["1", "2", "3", "4", "5"]
    assert list(out.columns) == ["id", "地址", "lon", "lat", "address_id", "score", "level"]
    assert out["address_id"].tolist()[0] == out["address_id"].tolist()[4] == "A0001"
    assert out["address_id"].tolist()[1:3] == ["", ""]
    assert out["level"].tolist()[3] == "room"
    assert (report.rows, report.resolved, report.unresolved_rows) == (5, 3, [2, 3])
    assert seen and seen[-1] == (5, 5)


def test_batch_in_order_with_bad_items(svc: AddressService) -> None:
    got = svc.geocode_many(["湖贝大厦A座", 42, "今天天气很好", "春风路"])
    assert got[0] is not None and got[0].address_id == "A0001"
    assert got[1] is None and got[2] is None
    assert got[3] is not None and got[3].level == "road"


def test_resolve_frame_fills_events(svc: AddressService) -> None:
    frame = gpd.GeoDataFrame({
        "id": ["E1", "E2", "E3"], "source": "hotline_12345", "category": "垃圾", "status": "open",
        "occurred_at": "2024-01-01T00:00:00Z",
        "address_text": ["市民反映：东门中路2001号湖贝大厦A座门口垃圾堆放", "不知道在哪里", None],
    }, geometry=gpd.GeoSeries([None, None, shapely.Point(114.12, 22.55)], crs="EPSG:4326"))
    out = resolve_frame("event", frame, svc)
    assert out.loc[0, "geocode_status"] == "resolved" and out.loc[0, "address_id"] == "A0001"
    assert out.geometry.iloc[0].distance(shapely.Point(114.1220, 22.5490)) < 1e-4
    assert out.loc[1, "geocode_status"] == "unresolved" and out.geometry.iloc[1] is None
    assert out.geometry.iloc[2].equals(shapely.Point(114.12, 22.55))
    assert len(out) == 3


def test_resolved_events_ingest(svc: AddressService, tmp_path: Path) -> None:
    store = build_tiny_store(tmp_path / "s.gpkg")
    try:
        frame = gpd.GeoDataFrame({
            "id": ["E1", "E2"], "source": "hotline_12345", "category": "垃圾",
            "status": "open", "occurred_at": "2024-01-01T00:00:00Z",
            "address_text": ["翠竹苑2栋门口", "火星基地"]},
            geometry=gpd.GeoSeries([None, None], crs="EPSG:4326"))
        store.ingest("event", resolve_frame("event", frame, svc))
        ev = store.query("event", order_by=["id"])
        assert ev["geocode_status"].tolist() == ["resolved", "unresolved"]
        assert ev["community_code"].tolist()[0] == C_DONGMEN
    finally:
        store.close()


def test_perturb_is_seeded(svc: AddressService) -> None:
    from address.evaluate import parts_of, perturb

    e = svc.registry.buildings[0]
    a = perturb(parts_of(e, svc.registry), random.Random(5))
    b = perturb(parts_of(e, svc.registry), random.Random(5))
    assert a == b


# -- fuzzy matching belongs to the geocoder, which says so (issue 10, point 5) ---------


def test_geocoder_reports_a_fuzzy_estate_match(svc: AddressService) -> None:
    # 华美花园 is another plausible name, not a slip of 华丽花园: the parser keeps it...
    parsed = svc.parse("华美花园1栋")
    assert parsed["poi"] == "华美花园" and not parsed.corrected
    # ...and the geocoder finds 华丽花园 1栋, saying which name it matched, with a lower
    # score and at poi level (the text does not name that building exactly)
    fuzzy = svc.geocode("华美花园1栋", 1)[0]
    exact = svc.geocode("华丽花园1栋", 1)[0]
    assert fuzzy.address_id == exact.address_id == "A0005"
    assert (exact.matched_name, exact.level, exact.score) == (None, "building", 1.0)
    assert fuzzy.matched_name == "华丽花园"
    assert fuzzy.score < exact.score and fuzzy.level == "poi"
    assert fuzzy.as_feature()["properties"]["matched_name"] == "华丽花园"
    assert exact.as_feature()["properties"]["matched_name"] is None


def test_geocoder_reports_a_corrected_slip(svc: AddressService) -> None:
    # a homophone slip (力/丽) is corrected by the parser and reported by the candidate
    cand = svc.geocode("华力花园1栋", 1)[0]
    assert cand.address_id == "A0005" and cand.matched_name == "华丽花园"
    assert cand.level == "building" and cand.score < 1.0
    # a door plate of the text supports the building: the level stays
    cand = svc.geocode("红岭中路1号华美花园", 1)[0]
    assert cand.address_id == "A0005" and cand.matched_name == "华丽花园"
    assert cand.level != "poi"


def test_sibling_road_is_not_a_typo(svc: AddressService) -> None:
    # 东门北路 is another road: its door plate 2001 is not 东门中路2001号
    parsed = svc.parse("东门北路2001号")
    assert parsed["road"] == "东门北路" and not parsed.corrected
    assert all(c.address_id != "A0001" for c in svc.geocode("东门北路2001号"))


def test_rooms_of_a_registry_past_32768_buildings() -> None:
    """Room keys were building << 48 | room: from the 32,768th building of one registry
    they overflowed int64 and no room was found (南山 at city scale has 37,681). And a
    shop written 101号商铺 is the shop, not flat 101 of some unit of the building."""
    n = 33_000
    sub = "440303003"
    com = "440303003001"
    box = shapely.box(114.10, 22.54, 114.14, 22.56)
    frames = {
        "subdistrict": _gdf([{"code": sub, "name": "东门街道", "short_name": "东门"}],
                            [shapely.MultiPolygon([box])]),
        "community": _gdf([{"code": com, "name": "湖贝社区居民委员会", "short_name": "湖贝社区",
                            "subdistrict_code": sub}], [shapely.MultiPolygon([box])]),
        "grid": _gdf([], []).assign(code=[], name=[], subdistrict_code=[], community_code=[]),
        "road": _gdf([{"name": "东门中路", "subdistrict_code": sub, "community_code": com}],
                     [shapely.LineString([(114.10, 22.55), (114.14, 22.55)])]),
    }
    xs = 114.10 + 0.04 * (np.arange(n) % 200) / 200
    ys = 22.54 + 0.02 * (np.arange(n) // 200) / 200
    frames["building"] = gpd.GeoDataFrame({
        "id": [f"B{i}" for i in range(n)], "address_id": [f"A{i:06d}" for i in range(n)],
        "estate": [None] * (n - 1) + ["湖贝花园"], "building_no": [None] * (n - 1) + ["1"],
        "road": "东门中路", "house_number": [str(i + 1) for i in range(n)],
        "address": [f"广东省深圳市罗湖区东门街道湖贝社区东门中路{i + 1}号" for i in range(n - 1)]
        + [f"广东省深圳市罗湖区东门街道湖贝社区东门中路{n}号湖贝花园1栋"],
        "subdistrict_code": sub, "community_code": com, "block": None, "valid_to": None,
    }, geometry=gpd.points_from_xy(xs, ys), crs="EPSG:4326")
    last = n - 1
    base = frames["building"]["address"].iloc[last]
    rows = [(None, "101", "shop", "101号商铺"), ("1", "101", "dwelling", "1单元101室"),
            ("2", "101", "dwelling", "2单元101室")]
    frames["house"] = gpd.GeoDataFrame({
        "address_id": [f"A{last:06d}-{k}" for k in range(3)], "building_id": f"B{last}",
        "unit": [r[0] for r in rows], "floor": 1, "room": [r[1] for r in rows],
        "use": [r[2] for r in rows], "block": None, "valid_to": None,
        "address": [base + r[3] for r in rows],
    }, geometry=gpd.points_from_xy([xs[last]] * 3, [ys[last]] * 3), crs="EPSG:4326")
    svc = AddressService.from_frames(**frames)
    assert len(svc.registry.houses_in(last, None, "101")) == 3
    for k, (_, _, _, suffix) in enumerate(rows):
        got = svc.geocode(base + suffix, 1)[0]
        assert (got.address_id, got.level, got.score) == (f"A{last:06d}-{k}", "room", 1.0)
