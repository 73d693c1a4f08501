"""Writes ``parse_cases.jsonl``: labelled parse cases composed from known components.

Run ``python tests/data/address/make_parse_cases.py`` to regenerate (seeded; the
file is committed so the evaluation set is fixed). Each case is composed from
ground-truth components (real Luohu admin names, road names and estate names of
``gazetteer.json``, plus roads and estates the gazetteer does not know), then
written the way people type: levels dropped or abbreviated, full-width
characters, Chinese numerals, spaces, punctuation, parentheses, lower-case
letters, swapped order, hotline words, one-character estate typos. The labels
are the canonical components, written here independently of the parser; a typo
that is not a homophone of the name's character is labelled as typed (another
plausible name, not a slip: issue 10 point 5).
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL = HERE.parents[2] / "data" / "real" / "admin_divisions"
KEYS = ("province", "city", "district", "subdistrict", "community", "road", "house_number",
        "poi", "building", "unit", "floor", "room")
CN = "零一二三四五六七八九"
FW = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
#: Short community names that are also another unit's name: only typed in full.
AMBIGUOUS_SHORT = {"东门", "笋岗", "翠竹", "莲塘", "东晓", "清水河", "罗湖"}
#: Names the gazetteer does not know (none within one typo of a known name).
UNKNOWN_ROADS = ("文华路", "兴业路", "育才路", "长安街", "振兴路")
UNKNOWN_ESTATES = ("金域华庭", "丽晶苑", "康宁大厦", "永福小区", "银泉家园", "海富广场", "宏发新村",
                   "锦江公寓")
TYPO_POOL = "华丽金银泰康宝新景春嘉鹏兴怡锦绣龙凤祥和乐福德信达荣悦雅海山松柏梅兰莲荷桃碧星月光明阳"
LEADS = ("市民反映：", "来电反映", "市民来电称", "投诉：", "有市民反映在", "网格员上报：", "位于")
TAILS = ("门口垃圾堆放", "附近有噪音", "，占道经营", "，油烟扰民，请尽快处理", "对面积水",
         "路段有坑")


def cn_number(n: int) -> str:
    if n < 10:
        return CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN[tens]) + "十" + (CN[ones] if ones else "")


def homophones(a: str, b: str) -> bool:
    """Whether two Han characters share a (toneless) pinyin reading."""
    from pypinyin import Style, pinyin

    ra = set(pinyin(a, style=Style.NORMAL, heteronym=True)[0])
    rb = set(pinyin(b, style=Style.NORMAL, heteronym=True)[0])
    return bool(ra & rb)


def one_edit(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    if len(a) < len(b):
        a, b = b, a
    return any(a[:i] + a[i + 1:] == b for i in range(len(a)))


def main() -> None:
    rng = random.Random(20241125)
    gaz = json.loads((HERE / "gazetteer.json").read_text(encoding="utf-8"))
    roads, estates = gaz["roads"], gaz["estates"]
    for name in (*UNKNOWN_ROADS, *UNKNOWN_ESTATES):
        assert not any(one_edit(name, k) for k in (*roads, *estates)), name
    with open(REAL / "luohu_communities_nbs2023.csv", encoding="utf-8") as fh:
        coms = [(r["community_short_name"], r["subdistrict_name"]) for r in csv.DictReader(fh)]
    cases: list[dict[str, object]] = []

    def add(text: str, exp: dict[str, str | None], messy: bool) -> None:
        full = {k: exp.get(k) for k in KEYS}
        cases.append({"text": text, "expected": full, "messy": messy})

    for i in range(320):
        com, sub = coms[rng.randrange(len(coms))]
        known_road = rng.random() < 0.8
        road = rng.choice(roads) if known_road else rng.choice(UNKNOWN_ROADS)
        known_estate = rng.random() < 0.8
        estate = rng.choice(estates) if known_estate else rng.choice(UNKNOWN_ESTATES)
        hn = str(rng.choice([rng.randrange(1, 60), rng.randrange(100, 999),
                             rng.randrange(1000, 3000)]))
        letter = rng.random() < 0.35
        bld = rng.choice("ABCDEFG") if letter else str(rng.randrange(1, 30))
        level = rng.choice(["building", "building", "room", "room", "plate", "estate",
                            "road", "admin"])
        messy = i % 3 != 0  # two thirds messy
        exp: dict[str, str | None] = {}
        parts: list[str] = []
        # -- admin ---------------------------------------------------------
        admin_style = rng.choice(["full", "full", "short", "none", "none", "district"]) if (
            messy) else "full"
        if level == "admin":
            admin_style = rng.choice(["full", "short", "community"]) if messy else "full"
        com_short = com.removesuffix("社区")
        if admin_style == "full":
            prefix = rng.choice(["广东省深圳市罗湖区", "深圳市罗湖区", "罗湖区"]) if messy else (
                "广东省深圳市罗湖区")
            parts += [prefix, sub, com]
            exp.update(province="广东省", city="深圳市", district="罗湖区", subdistrict=sub,
                       community=com)
        elif admin_style == "short":
            parts += [rng.choice(["深圳罗湖", "罗湖", "深圳市罗湖"]), sub.removesuffix("街道")]
            if com_short not in AMBIGUOUS_SHORT and len(com_short) >= 2:
                parts.append(com_short)
            else:
                parts.append(com)
            exp.update(province="广东省", city="深圳市", district="罗湖区", subdistrict=sub,
                       community=com)
        elif admin_style == "community":
            parts.append(com)
            exp.update(province="广东省", city="深圳市", district="罗湖区", subdistrict=sub,
                       community=com)
        elif admin_style == "district":
            parts.append(rng.choice(["罗湖区", "深圳市罗湖区", "深圳罗湖"]))
            exp.update(province="广东省", city="深圳市", district="罗湖区")
        # -- road and door plate ------------------------------------------
        place: list[str] = []
        if level in ("building", "room", "plate", "road") and not (
                level in ("building", "room") and messy and rng.random() < 0.15):
            road_text = road
            if messy and known_road and rng.random() < 0.3 and any(c in road for c in CN):
                road_text = "".join(str(CN.index(c)) if c in CN else c for c in road)
            exp["road"] = road
            if level != "road":
                hn_text = hn
                if messy:
                    hn_cn = "".join(CN[int(c)] for c in hn)
                    hn_text = rng.choice([hn, hn, hn.translate(FW), hn_cn])
                sub_no = rng.random() < 0.1
                if sub_no:
                    k = rng.randrange(1, 5)
                    hn_text += rng.choice([f"号之{k}", f"号之{CN[k]}"])
                    exp["house_number"] = f"{hn}-{k}"
                else:
                    hn_text += "号"
                    exp["house_number"] = hn
                place.append(road_text + hn_text)
            else:
                place.append(road_text)
        # -- estate and building ------------------------------------------
        if level in ("building", "room", "estate"):
            e_text = estate
            exp["poi"] = estate
            if messy and known_estate and rng.random() < 0.2:
                body = len(estate) - 2
                j = rng.randrange(max(1, body))
                typo = estate[:j] + rng.choice([c for c in TYPO_POOL if c != estate[j]]) + \
                    estate[j + 1:]
                if sum(one_edit(typo, e) for e in estates) == 1:
                    e_text = typo
                    # A homophone is an input-method slip of the estate's name; any
                    # other character makes another plausible name, which the text
                    # says (issue 10, point 5): the label is then what was typed.
                    if not homophones(typo[j], estate[j]):
                        exp["poi"] = typo
            if messy and rng.random() < 0.08:
                e_text = f"({e_text})" if rng.random() < 0.5 else f"（{e_text}）"
            b_text = ""
            if level in ("building", "room"):
                exp["building"] = bld
                if letter:
                    b_text = rng.choice([f"{bld}座", f"{bld}栋", f"{bld.lower()}座", f"{bld}幢",
                                         f"{bld.translate(FW)}座", f"{bld}号楼"]) if messy else (
                        f"{bld}座")
                else:
                    n = int(bld)
                    b_text = rng.choice([f"{bld}栋", f"第{bld}栋", f"{cn_number(n)}栋",
                                         f"{bld}号楼", f"{bld}幢", f"第{cn_number(n)}栋"]) if (
                        messy) else f"{bld}栋"
            place.append(e_text + b_text)
        if level == "room":
            unit = str(rng.randrange(1, 5)) if rng.random() < 0.7 else None
            fl = rng.randrange(1, 33)
            room = f"{fl}{rng.randrange(1, 9):02d}"
            r_text = ""
            if unit:
                exp["unit"] = unit
                r_text += rng.choice([f"{unit}单元", f"{CN[int(unit)]}单元"]) if messy else (
                    f"{unit}单元")
            if messy and rng.random() < 0.2:
                exp["floor"] = str(fl)
                r_text += rng.choice([f"{fl}楼", f"{fl}层", f"{fl}F", f"{cn_number(fl)}楼"])
            exp["room"] = room
            r_text += rng.choice([f"{room}室", f"{room}房", f"{room}号房"]) if messy else (
                f"{room}室")
            place.append(r_text)
        if not place and level != "admin":
            place.append(road)
            exp["road"] = road
        # -- assemble -------------------------------------------------------
        sep = rng.choice(["", " ", "，", "、", "　", ","]) if messy and rng.random() < 0.4 else ""
        if messy and rng.random() < 0.12 and len(place) >= 2:
            place = place[1:] + place[:1]
        text = sep.join(p for p in parts if p)
        body = sep.join(place)
        if messy and parts and rng.random() < 0.08:
            text = body + sep + text
        else:
            text = text + sep + body if text else body
        if messy and rng.random() < 0.2:
            text = rng.choice(LEADS) + text + rng.choice(TAILS)
        if messy and rng.random() < 0.06:
            text = text.translate(FW)
        add(text, exp, messy)
    with open(HERE / "parse_cases.jsonl", "w", encoding="utf-8") as fh:
        fh.write("// generated by make_parse_cases.py: labelled parse cases\n")
        for c in cases:
            fh.write(json.dumps(c, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
