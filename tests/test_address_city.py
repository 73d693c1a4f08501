"""Addresses across the city (issue 15): one registry per district behind a router.

The whole city (nine districts) is built once at scale 0.001 on a LocalCluster of two
workers; the address service is built from its partitions the way ``address_service``
builds it from a city store. Checked: every standard address keeps its own district
(广东省深圳市福田区…), registry addresses geocode back to themselves in every district,
ids are unique across districts, reverse geocoding names the district containing the
point, community names that recur in the city are not guessed into one subdistrict, and
the hand-written evaluation sets of real addresses outside Luohu are scored per district
(the development set, looked at while the parser changed, and the held-out set, never
looked at beyond its score), reported apart from anything the generator made.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from address.city import CityAddressService
from address.evaluate import evaluate_parser, evaluate_slices, load_cases
from address.gazetteer import DISTRICTS, REAL_DIR, AdminName, Gazetteer
from address.parser import AddressParser
from address.service import _COLUMNS
from data.synth import city
from gis.batch.partitions import list_partitions, read_partition

ROOT = Path(__file__).resolve().parent
DEV_CASES = ROOT / "data" / "address" / "city_places_cases.jsonl"
HELDOUT_CASES = ROOT / "data" / "address" / "city_heldout_cases.jsonl"


def _frames(root: Path) -> dict[str, Any]:
    """The address-bearing kinds of a city build, shaped as a store returns them."""
    out: dict[str, Any] = {}
    for kind, cols in _COLUMNS.items():
        df = pd.concat([read_partition(p) for p in list_partitions(root, kind)],
                       ignore_index=True)
        keep = [c for c in dict.fromkeys([*cols, "id"]) if c in df.columns]
        out[kind] = gpd.GeoDataFrame(df[[*keep, "geometry"]], geometry="geometry",
                                     crs="EPSG:4326")
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any],
                                                                      CityAddressService]]:
    from gis.batch.cluster import dask_client

    root = tmp_path_factory.mktemp("city9")
    with dask_client(2) as client:
        report = city.build_city(root, city.parse_area("shenzhen"), seed=7, scale=0.001,
                                 client=client)
    assert len(report.rows) == 9
    frames = _frames(root)
    yield frames, CityAddressService.from_frames(**frames)


def _district(code: Any) -> str:
    return str(code)[:6]


def test_every_district_has_its_own_registry(built: tuple[dict[str, Any], Any]) -> None:
    frames, svc = built
    assert set(svc.districts) == {_district(c) for c in frames["subdistrict"]["code"]}
    assert len(svc.districts) == 9
    for code, one in svc.districts.items():
        prefix = f"广东省深圳市{DISTRICTS[code]}"
        reg = one.registry
        assert reg.district.address == prefix and reg.district.address_id == f"D{code}"
        assert all(e.address.startswith(prefix) for e in reg.subdistricts.values())
        assert all(e.address.startswith(prefix) for e in reg.communities.values())
        assert all(e.address.startswith(prefix) for e in reg.roads.values())
        assert all(e.address.startswith(prefix) for e in reg.buildings)
        # the gazetteer's home district is this one; the others are foreign
        home = [p for p in one.gazetteer.of_kind("district") if not p.foreign]
        assert [p.code for p in home] == [code]
    frame = svc.registry_frame()
    assert frame["address_id"].is_unique  # roads recur between districts, ids do not
    assert len(frame) == sum(len(s.registry_frame()) for s in svc.districts.values())


def test_registry_addresses_geocode_to_themselves_in_every_district(
        built: tuple[dict[str, Any], CityAddressService]) -> None:
    """Generator-made addresses (reported apart from the real ones): every building of a
    sample in each district, and a sample of houses, come back as themselves."""
    frames, svc = built
    b = frames["building"]
    missed = []
    for code in svc.districts:
        sample = b[b["subdistrict_code"].map(_district) == code].head(12)
        assert len(sample), code
        for row in sample.itertuples():
            got = svc.geocode(row.address, 1)
            if not got or got[0].address_id != row.address_id:
                missed.append((row.address, got[0].address if got else None))
    assert not missed, missed[:5]
    for code, one in svc.districts.items():
        reg = one.registry
        assert len(reg.h_address_id), code
        for i in range(0, len(reg.h_address_id), max(1, len(reg.h_address_id) // 6)):
            entry = reg.house(i)
            got = svc.geocode(entry.address, 1)
            assert got and got[0].address_id == entry.address_id, (entry.address, got)
            assert got[0].address.startswith(f"广东省深圳市{DISTRICTS[code]}")


def test_reverse_names_the_district_containing_the_point(
        built: tuple[dict[str, Any], CityAddressService]) -> None:
    frames, svc = built
    b = frames["building"]
    for code in svc.districts:
        row = b[b["subdistrict_code"].map(_district) == code].iloc[0]
        pt = shapely.point_on_surface(row.geometry)
        res = svc.reverse(pt.x, pt.y, radius=200, limit=3)
        assert res.context["district"] == {"code": code, "name": DISTRICTS[code]}
        assert res.results and res.results[0][0].address.startswith(
            f"广东省深圳市{DISTRICTS[code]}")
        # shapely agrees: the containing subdistrict's polygon holds the point
        sub = frames["subdistrict"]
        inside = sub[sub.geometry.intersects(pt)]
        assert res.context["subdistrict"]["code"] in set(inside["code"].astype(str))
        assert svc.context(pt.x, pt.y) == res.context
    far = svc.reverse(113.0, 23.5, radius=100, limit=3)  # far outside the city
    assert far.results == [] and far.context["district"] is None


def test_routing_and_admin_answers(built: tuple[dict[str, Any], CityAddressService]) -> None:
    _, svc = built
    sub = svc.geocode("南山区南山街道", 1)[0]
    assert sub.level == "subdistrict" and sub.address == "广东省深圳市南山区南山街道"
    assert svc.route("龙华区龙华街道") == ["440309"]
    assert svc.parse("盐田区沙头角街道").components["district"] == "盐田区"
    # a subdistrict implies its own district, not Luohu
    p = svc.parse("观澜街道")
    assert (p["district"], p["subdistrict"]) == ("龙华区", "观澜街道")
    # a district typed against its subdistrict is a conflict, not silently kept
    assert "district" in svc.parse("福田区观澜街道").conflicts


def test_recurring_community_names_are_not_guessed(
        built: tuple[dict[str, Any], CityAddressService]) -> None:
    """凤凰社区 is in five subdistricts of the city: alone it names no subdistrict and
    routes to every district that has one; with its subdistrict it is that one."""
    _, svc = built
    with open(REAL_DIR / "shenzhen_communities_nbs2023.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    where: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for r in rows:  # 盐田's rows are 凤凰居委会 / 凤凰: the same 凤凰社区
        base = r["community_short_name"].removesuffix("居委会").removesuffix("居委")
        name = base if "社区" in base else f"{base}社区"
        where[name].add((r["district_code"], r["subdistrict_name"]))
    homes = where["凤凰社区"]
    assert len(homes) >= 3
    assert svc.route("凤凰社区") == sorted({d for d, _ in homes})
    p = svc.parse("凤凰社区")
    assert p["community"] == "凤凰社区" and p["subdistrict"] is None
    for dist, sub_name in sorted(homes):
        text = f"{DISTRICTS[dist]}{sub_name}凤凰社区"
        got = svc.geocode(text, 1)[0]
        assert got.level == "community", text
        assert got.address == f"广东省深圳市{DISTRICTS[dist]}{sub_name}凤凰社区"
    # a district with exactly one of them tells which
    once = [d for d, n in Counter(d for d, _ in homes).items() if n == 1]
    for dist in once:
        sub_name = next(s for d, s in homes if d == dist)
        q = svc.parse(f"{DISTRICTS[dist]}凤凰社区")
        assert q["subdistrict"] == sub_name


def test_city_gazetteer_keeps_same_named_communities_apart() -> None:
    subs = [AdminName("440306014", "福永街道"), AdminName("440311004", "凤凰街道")]
    coms = [AdminName("440306014001", "凤凰社区", parent="福永街道"),
            AdminName("440311004001", "凤凰社区", parent="凤凰街道")]
    gaz = Gazetteer.city(subs, coms)
    assert len(gaz.named("community", "凤凰社区")) == 2
    assert gaz.get("community", "凤凰社区", parent="凤凰街道").code == "440311004001"
    parser = AddressParser(gaz)
    p = parser.parse("光明区凤凰街道凤凰社区")
    assert p.places["community"].code == "440311004001" and not p.conflicts
    assert parser.parse("凤凰社区")["subdistrict"] is None
    # 盐田's NBS rows are 居委会 with a bare short name: still named 某某社区
    yantian = Gazetteer.city([AdminName("440308001", "梅沙街道")],
                             [AdminName("440308001006", "大梅沙", "大梅沙居委会", "梅沙街道")])
    assert yantian.get("community", "大梅沙社区") is not None


def _score(svc: CityAddressService, path: Path) -> tuple[float, dict[str, tuple[int, int]]]:
    cases = load_cases(path)
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in cases:
        by[c["district"]].append(c)
    per = {}
    for d, cs in sorted(by.items()):
        r = evaluate_parser(svc.parse, cs)
        per[d] = (r.exact, r.n)
    exact = sum(e for e, _ in per.values())
    return exact / len(cases), per


def test_real_addresses_outside_luohu_development_set(
        built: tuple[dict[str, Any], CityAddressService]) -> None:
    """The first hand-written set (424 cases, every district). Its failures were read
    while the city rules were written, so it is a development figure: 72.4 % before
    them, 76.9 % after, 87.0 % with the other districts' hand-compiled gazetteer
    (address/data/shenzhen_gazetteer.csv, written without seeing either set)."""
    _, svc = built
    rate, per = _score(svc, DEV_CASES)
    assert rate >= 0.87, per
    for d, (exact, n) in per.items():
        if d != "外市":
            assert exact / n >= 0.4, (d, exact, n)


@pytest.mark.skipif(not HELDOUT_CASES.exists(), reason="held-out set not written")
def test_real_addresses_outside_luohu_held_out_set(
        built: tuple[dict[str, Any], CityAddressService]) -> None:
    """The held-out set, written apart and never looked at beyond this score; also scored
    on its cases whose road and estate no gazetteer knows (the rules alone)."""
    _, svc = built
    rate, per = _score(svc, HELDOUT_CASES)
    assert rate >= HELDOUT_FLOOR, per
    res = evaluate_slices(svc.parse, load_cases(HELDOUT_CASES), lambda kind, name: any(
        s.gazetteer.is_real(kind, name) for s in svc.districts.values()))
    outside = res["unknown, outside the gazetteer"]
    assert outside.n >= 100 and outside.exact_rate >= HELDOUT_OUTSIDE_FLOOR


#: The held-out score with the parser and gazetteers as committed: 200 of 267 cases
#: (74.9 %), 116 of the 164 outside the gazetteers (70.7 %); before the other districts'
#: gazetteer 172 (64.4 %). The floors are them rounded down (docs/address.md).
HELDOUT_FLOOR = 0.74
HELDOUT_OUTSIDE_FLOOR = 0.70


def test_bad_input_is_refused_as_in_a_district(
        built: tuple[dict[str, Any], CityAddressService]) -> None:
    """The city service refuses what a district's refuses (the routes answer 400)."""
    from address.errors import AddressInputError

    _, svc = built
    for call in (lambda: svc.geocode("   "), lambda: svc.parse(""),
                 lambda: svc.geocode("东门街道", limit=0),
                 lambda: svc.reverse(200.0, 22.5), lambda: svc.reverse(114.1, 22.5, radius=-1),
                 lambda: svc.reverse(114.1, 22.5, coordsys="utm")):
        with pytest.raises(AddressInputError):
            call()
    assert svc.best("   ") is None and svc.geocode_many(["", None]) == [None, None]
