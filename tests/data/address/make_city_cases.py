"""Writes ``city_places_cases.jsonl`` from the hand-written ``city_places_cases.txt``, and
holds the conversion the held-out set uses too (``make_heldout_cases.py``).

Run ``python3 tests/data/address/make_city_cases.py`` after editing the text file (stdlib
only). The labels are the hand-written ones; this script spells the short keys out, tags
each case with the district its place is really in (the ``#@`` lines of the text file)
and adds the parents that a named admin unit implies, read from the NBS 2023 Shenzhen
tables:

* a community implies its subdistrict only when its name is unique in the city, or when
  the text also names the district and the name is unique within that district;
* a subdistrict implies the district the table puts it in (葵涌/大鹏/南澳 → 龙岗区, unless
  the text says 大鹏新区);
* a Shenzhen district or 大鹏新区 implies 深圳市; 深圳市, 东莞市 and 惠州市 imply 广东省.

It also checks the file: every line parses and has slice ``U``; every ``s=`` and ``c=``
label is an NBS name; labels are normalised; named and implied units agree with each
other and with the ``#@`` tag; every ``r=`` and ``p=`` label is spelled in its text; no
text occurs twice; and every district other than 罗湖区 has its minimum of cases.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections import Counter
from pathlib import Path

from make_real_cases import KEYS, SHORT  # the Luohu set's label keys

HERE = Path(__file__).resolve().parent
REAL = HERE.parents[2] / "data" / "real" / "admin_divisions"

SLICES = {"U": "unknown"}
SHENZHEN = "深圳市"
DAPENG = "大鹏新区"
DAPENG_SUBS = frozenset({"葵涌街道", "大鹏街道", "南澳街道"})
OUTSIDE = "外市"
OTHER_CITIES = frozenset({"东莞市", "惠州市"})


class Tables:
    """The NBS 2023 Shenzhen subdistrict and community names."""

    def __init__(self) -> None:
        self.district_of: dict[str, str] = {}
        with open(REAL / "shenzhen_subdistricts_nbs2023.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                self.district_of[row["subdistrict_name"]] = row["district_name"]
        self.districts = frozenset(self.district_of.values())
        # community label → the subdistricts that have a community of that name
        self.subs_of: dict[str, list[str]] = {}
        with open(REAL / "shenzhen_communities_nbs2023.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                self.subs_of.setdefault(community_label(row["community_short_name"]),
                                        []).append(row["subdistrict_name"])

    def in_district(self, sub: str, district: str) -> bool:
        """Whether subdistrict ``sub`` lies in ``district`` (大鹏新区 included)."""
        if district == DAPENG:
            return sub in DAPENG_SUBS
        return self.district_of[sub] == district


def community_label(short: str) -> str:
    """The label form of an NBS community short name (盐田区's short names lack 社区)."""
    return short if "社区" in short else short + "社区"


def squeeze(text: str) -> str:
    """``text`` as labels spell it: NFKC (ASCII digits, letters), capitals, no spaces."""
    return "".join(unicodedata.normalize("NFKC", text).upper().split())


def parse_line(line: str, lineno: int) -> tuple[str, str, dict[str, str]]:
    """Split one case line into its slice, text and labels (short keys)."""
    parts = [x.strip() for x in line.split("|")]
    assert len(parts) == 3, f"line {lineno}: expected 'SLICE | text | labels'"
    tag, text, labels = parts
    assert tag in SLICES, f"line {lineno}: unknown slice {tag!r}"
    assert text, f"line {lineno}: empty text"
    out: dict[str, str] = {}
    for item in labels.split():
        key, sep, value = item.partition("=")
        assert sep and value, f"line {lineno}: bad label {item!r}"
        assert key in SHORT, f"line {lineno}: unknown label key {key!r}"
        assert key not in out, f"line {lineno}: label {key!r} twice"
        assert all(unicodedata.normalize("NFKC", ch).upper() == ch
                   or not unicodedata.normalize("NFKC", ch).isalnum() for ch in value), (
            f"line {lineno}: label {item!r} has full-width or lower-case letters or digits")
        out[key] = value
    assert out, f"line {lineno}: no labels"
    for key in ("r", "p"):
        if key in out:
            assert squeeze(out[key]) in squeeze(text), (
                f"line {lineno}: {key}={out[key]} is not spelled in the text")
    return tag, text, out


def expand(labels: dict[str, str], tables: Tables, lineno: int) -> dict[str, str | None]:
    """The 12-key expected record: the labels plus the parents they imply."""
    exp: dict[str, str | None] = dict.fromkeys(KEYS)
    for key, value in labels.items():
        exp[SHORT[key]] = value
    district, sub, com = exp["district"], exp["subdistrict"], exp["community"]
    if sub is not None:
        assert sub in tables.district_of, f"line {lineno}: {sub} is not an NBS subdistrict"
    if com is not None:
        assert com in tables.subs_of, f"line {lineno}: {com} is not an NBS community"
        subs = tables.subs_of[com]
        if sub is not None:
            assert sub in subs, f"line {lineno}: no {com} in {sub}"
        else:
            if district is not None:
                subs = [s for s in subs if tables.in_district(s, district)]
                assert subs, f"line {lineno}: no {com} in {district}"
            if len(subs) == 1:
                exp["subdistrict"] = sub = subs[0]
    if sub is not None:
        if district is None:
            exp["district"] = district = tables.district_of[sub]
        assert tables.in_district(sub, district), f"line {lineno}: {sub} not in {district}"
    if district in tables.districts or district == DAPENG:
        assert exp["city"] in (None, SHENZHEN), f"line {lineno}: {district} not in 深圳市"
        exp["city"] = SHENZHEN
    if exp["city"] == SHENZHEN or exp["city"] in OTHER_CITIES:
        exp["province"] = "广东省"
    return exp


def check_tag(exp: dict[str, str | None], where: str, lineno: int) -> None:
    """Assert that the labels do not contradict the district the place is really in."""
    district, city = exp["district"], exp["city"]
    if where == OUTSIDE:
        assert city is not None and city != SHENZHEN, (
            f"line {lineno}: a case outside Shenzhen must name its city")
        return
    assert city in (None, SHENZHEN), f"line {lineno}: {city} in a Shenzhen case"
    allowed = {where, "龙岗区"} if where == DAPENG else {where}
    assert district in allowed | {None}, f"line {lineno}: {district} tagged {where}"


def read_cases(source: Path, tables: Tables) -> list[dict[str, object]]:
    """Parse and check a text file into JSON-ready rows."""
    rows: list[dict[str, object]] = []
    where: str | None = None
    valid_tags = tables.districts | {DAPENG, OUTSIDE}
    for lineno, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#@"):
            where = line[2:].strip()
            assert where in valid_tags, f"line {lineno}: unknown district tag {where!r}"
            continue
        if not line.strip() or line.startswith("#"):
            continue
        assert where is not None, f"line {lineno}: case before any '#@' district tag"
        tag, text, labels = parse_line(line, lineno)
        exp = expand(labels, tables, lineno)
        check_tag(exp, where, lineno)
        rows.append({"text": text, "expected": exp, "slice": SLICES[tag], "messy": True,
                     "district": where})
    return rows


def check_counts(rows: list[dict[str, object]], tables: Tables,
                 min_per_district: int) -> Counter[str]:
    """Assert unique texts and the minimum number of cases per district but 罗湖区."""
    texts = Counter(str(r["text"]) for r in rows)
    dupes = [t for t, n in texts.items() if n > 1]
    assert not dupes, f"duplicate texts: {dupes}"
    counts = Counter(str(r["district"]) for r in rows)
    for district in sorted(tables.districts - {"罗湖区"}):
        assert counts[district] >= min_per_district, (
            f"{district}: {counts[district]} cases, want {min_per_district}")
    return counts


def convert(source: Path, target: Path, note: str, min_per_district: int) -> None:
    """Convert and check ``source`` into ``target``, then print the cases per district."""
    tables = Tables()
    rows = read_cases(source, tables)
    counts = check_counts(rows, tables, min_per_district)
    with open(target, "w", encoding="utf-8") as fh:
        fh.write(f"// generated by {note}\n")
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} cases -> {target.name}")
    for district, n in counts.most_common():
        print(f"  {district} {n}")


def main() -> None:
    """Convert the development set."""
    convert(HERE / "city_places_cases.txt", HERE / "city_places_cases.jsonl",
            "make_city_cases.py from city_places_cases.txt (hand-labelled)", 15)


if __name__ == "__main__":
    main()
