"""Check address/data/shenzhen_gazetteer.csv and print its counts per district and type.

Stdlib only: ``python3 address/data/check_shenzhen_gazetteer.py [path]``. It checks the
header comment and the CSV header, four columns a row, the types, that the district is one
of the eight non-Luohu districts, that a given subdistrict is an NBS subdistrict of that
district (data/real/admin_divisions/shenzhen_subdistricts_nbs2023.csv), that no
(name, type, district) repeats, and that every name has no comma or white space and is
made of Han characters (two at least) with ASCII letters or digits allowed inside. Exits 1
with one line per problem, 0 when the file passes.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
GAZETTEER = HERE / "shenzhen_gazetteer.csv"
NBS_SUBDISTRICTS = REPO / "data" / "real" / "admin_divisions" / "shenzhen_subdistricts_nbs2023.csv"

HEADER = ["name", "type", "district", "subdistrict"]
TYPES = ("road", "estate", "building", "landmark", "village")
DISTRICTS = ("福田区", "南山区", "宝安区", "龙岗区", "盐田区", "龙华区", "坪山区", "光明区")


def is_han(ch: str) -> bool:
    """Return True for a CJK unified ideograph (basic block or extensions A to F)."""
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2FA1F
        or 0xF900 <= code <= 0xFAFF
    )


def name_problem(name: str) -> str | None:
    """Return why a name is not acceptable, or None when it is."""
    if name != name.strip() or any(ch.isspace() for ch in name):
        return "white space in name"
    if "," in name or "，" in name:
        return "comma in name"
    bad = [ch for ch in name if not (is_han(ch) or (ch.isascii() and ch.isalnum()))]
    if bad:
        return f"characters other than Han, ASCII letters and digits: {''.join(bad)!r}"
    if sum(1 for ch in name if is_han(ch)) < 2:
        return "fewer than two Han characters"
    return None


def load_nbs_subdistricts(path: Path) -> dict[str, set[str]]:
    """Map each district name to the set of its NBS subdistrict names."""
    by_district: dict[str, set[str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            by_district.setdefault(row["district_name"], set()).add(row["subdistrict_name"])
    return by_district


def check(path: Path, nbs: dict[str, set[str]]) -> tuple[list[str], list[list[str]]]:
    """Check the gazetteer at path; return (problems, data rows)."""
    problems: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    comments = 0
    while comments < len(lines) and lines[comments].startswith("#"):
        comments += 1
    if comments == 0:
        problems.append("no header comment block")
    body = lines[comments:]
    if any(line.startswith("#") for line in body):
        problems.append("comment lines after the CSV header")
    reader = csv.reader(body)
    header = next(reader, None)
    if header != HEADER:
        problems.append(f"CSV header is {header!r}, expected {HEADER!r}")
    rows: list[list[str]] = []
    seen: set[tuple[str, str, str]] = set()
    for offset, row in enumerate(reader, start=comments + 2):
        where = f"line {offset}"
        if len(row) != len(HEADER):
            problems.append(f"{where}: {len(row)} columns, expected {len(HEADER)}: {row!r}")
            continue
        name, kind, district, subdistrict = row
        why = name_problem(name)
        if why:
            problems.append(f"{where}: {name!r}: {why}")
        if kind not in TYPES:
            problems.append(f"{where}: {name!r}: type {kind!r} not in {TYPES}")
        if district not in DISTRICTS:
            problems.append(f"{where}: {name!r}: district {district!r} not one of {DISTRICTS}")
        elif subdistrict and subdistrict not in nbs.get(district, set()):
            problems.append(
                f"{where}: {name!r}: {subdistrict!r} is not an NBS subdistrict of {district}"
            )
        if subdistrict != subdistrict.strip():
            problems.append(f"{where}: {name!r}: white space around subdistrict")
        key = (name, kind, district)
        if key in seen:
            problems.append(f"{where}: duplicate {key!r}")
        seen.add(key)
        rows.append(row)
    if not rows:
        problems.append("no data rows")
    return problems, rows


def report(rows: list[list[str]]) -> None:
    """Print counts per district and type."""
    per_pair = Counter((row[2], row[1]) for row in rows)
    width = max(len(kind) for kind in TYPES)
    print("district  " + "  ".join(kind.rjust(width) for kind in TYPES) + "  total  with-sub")
    for district in DISTRICTS:
        counts = [per_pair[(district, kind)] for kind in TYPES]
        with_sub = sum(1 for row in rows if row[2] == district and row[3])
        cells = "  ".join(str(n).rjust(width) for n in counts)
        print(f"{district}  {cells}  {sum(counts):5d}  {with_sub:8d}")
    totals = [sum(per_pair[(d, kind)] for d in DISTRICTS) for kind in TYPES]
    with_sub = sum(1 for row in rows if row[3])
    cells = "  ".join(str(n).rjust(width) for n in totals)
    print(f"{'all':<6}  {cells}  {len(rows):5d}  {with_sub:8d}")
    print(f"distinct names: {len({row[0] for row in rows})}")


def main(argv: list[str]) -> int:
    """Run the checks on argv[1] (default: the gazetteer next to this script)."""
    path = Path(argv[1]) if len(argv) > 1 else GAZETTEER
    problems, rows = check(path, load_nbs_subdistricts(NBS_SUBDISTRICTS))
    report(rows)
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    if problems:
        print(f"FAIL: {len(problems)} problem(s) in {path}", file=sys.stderr)
        return 1
    print(f"OK: {path.name} passes ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
