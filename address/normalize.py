"""Text normalisation for Chinese addresses.

One function, :func:`normalize`, turns what people type into a compact form
that the gazetteer and the parser work on:

- Unicode NFKC folds full-width letters, digits and punctuation (``Ａ座``,
  ``１２０３``, ``（``) to ASCII, and the few traditional characters common in
  addresses are mapped to simplified ones;
- Latin letters are upper-cased (``a幢`` → ``A幢``), white space and middle dots
  are removed (Han text needs no spaces), and punctuation becomes a single
  separator ``|`` so that later patterns never run across a comma;
- Chinese numerals are turned into ASCII digits *only* where they count
  something (``十二楼`` → ``12楼``, ``第三栋`` → ``3栋``, ``二单元`` → ``2单元``,
  ``2001号之三`` → ``2001号之3``), never inside names such as ``田贝一路``.

Gazetteer names go through the same function, so a name and its mention
always compare equal after normalisation. No library covers this (cn2an and
similar convert *all* numerals, names included), hence the hand-written rules.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Separator that replaces punctuation in normalised text.
SEP = "|"

# Traditional → simplified for characters that occur in addresses.
_TRAD = str.maketrans(
    "號棟區門廣東鎮園單層廈灣華龍國興豐濱寶嶺貝陽場樓館圍環鄉麗湧蓮筍曉雲際業灘莊裏裡"
    "邨衛橋廠貿風鵬羅崗滙匯間縣側對邊後廳條蘭愛寧臺運",
    "号栋区门广东镇园单层厦湾华龙国兴丰滨宝岭贝阳场楼馆围环乡丽涌莲笋晓云际业滩庄里里"
    "村卫桥厂贸风鹏罗岗汇汇间县侧对边后厅条兰爱宁台运"
)

_DASHES = str.maketrans({"—": "-", "–": "-", "―": "-", "‐": "-", "‑": "-", "−": "-",
                         "~": "-", "〜": "-", "～": "-"})

# White space and middle dots are dropped, punctuation becomes the separator; one
# str.translate does both (C speed; a regex pass per class costs more per call).
_DROP = " \t\n\r\f\v\u00a0\u2002\u2003\u2009\u200b\u3000·•・‧"
_PUNCT_CHARS = ",，.。;；:：!！?？、/\\|\"“”'‘’《》<>【】[]{}()（）〔〕「」『』"
_CLEAN = str.maketrans({**dict.fromkeys(_DROP, None), **dict.fromkeys(_PUNCT_CHARS, SEP)})
_MULTI_SEP = re.compile(r"\|{2,}")
_SLASH_F = re.compile(r"(\d+)\s*/\s*F")

_CN_DIGIT = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
             "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}
_CN = "零〇○一二两三四五六七八九十百千"
_CN_CHARS = frozenset(_CN)

#: Markers after which a preceding number counts something.
_COUNT_MARKERS = "栋|座|幢|号|单元|楼|层|室|房|门|梯|期|F|#|户|间"
# Chinese numerals that count something, in one pass: before a marker (十二楼,
# 第三栋), the sub-number after 号之/号附 (2001号之三), and a room read out after its
# building or unit (1单元七零二 → 1单元702).
_CN_NUMBERS = re.compile(
    rf"第?([{_CN}]+)(?=(?:{_COUNT_MARKERS}))"
    rf"|(?:(?<=[\d{_CN}]号之)|(?<=[\d{_CN}]号附))([{_CN}]+)"
    rf"|(?:(?<=单元)|(?<=[栋座幢层楼]))([{_CN}]+)(?=$|\|)")
_DI_DIGITS = re.compile(rf"第(\d+)(?=(?:{_COUNT_MARKERS}))")
_BASEMENT = re.compile(r"(?:负|地下)(\d+)(?=楼|层)")
_B_FLOOR = re.compile(r"(?<![A-Z\d])B(\d)(?=楼|层)")


def cn_to_int(text: str) -> int:
    """Value of a Chinese numeral (``十二`` → 12, ``一千零三`` → 1003, ``一二零三`` → 1203).

    Without any of 十/百/千 the characters are read digit by digit, as people
    read room numbers aloud. Raises ValueError on a character that is not a numeral.
    """
    if not text:
        raise ValueError("empty numeral")
    if not any(ch in _CN_UNIT for ch in text):
        value = 0
        for ch in text:
            if ch not in _CN_DIGIT:
                raise ValueError(f"not a Chinese numeral: {text!r}")
            value = value * 10 + _CN_DIGIT[ch]
        return value
    total = 0
    current = 0
    for ch in text:
        if ch in _CN_DIGIT:
            current = _CN_DIGIT[ch]
        elif ch in _CN_UNIT:
            total += (current or 1) * _CN_UNIT[ch]
            current = 0
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + current


def _cn_sub(match: re.Match[str]) -> str:
    numeral = match.group(1) or match.group(2) or match.group(3)
    if not numeral:
        return match.group(0)
    try:
        return str(cn_to_int(numeral))
    except ValueError:
        return match.group(0)


def fold(text: str) -> str:
    """NFKC, simplified characters, upper-case Latin letters, unified dashes."""
    return unicodedata.normalize("NFKC", text).translate(_TRAD).translate(_DASHES).upper()


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """The compact normalised form of an address text (see the module docstring).

    Punctuation becomes ``|``; leading/trailing separators are dropped. The
    result is cached (addresses repeat a lot in batch input).
    """
    s = fold(text)
    if "/" in s:
        s = _SLASH_F.sub(r"\1F", s)
    s = s.translate(_CLEAN)
    if SEP + SEP in s:
        s = _MULTI_SEP.sub(SEP, s)
    s = s.strip(SEP)
    if not _CN_CHARS.isdisjoint(s):
        s = _CN_NUMBERS.sub(_cn_sub, s)
    if "第" in s:
        s = _DI_DIGITS.sub(r"\1", s)
    if "负" in s or "地下" in s:
        s = _BASEMENT.sub(r"-\1", s)
    if "B" in s:
        s = _B_FLOOR.sub(r"-\1", s)
    return s


def normalize_name(name: str) -> str:
    """Normalised form of a gazetteer name (same rules, separators removed)."""
    return normalize(name).replace(SEP, "")


def digit_variant(name: str) -> str | None:
    """``name`` with every Chinese numeral written in ASCII digits (``田贝一路`` →
    ``田贝1路``), or None when it has none. People type both forms of such names."""
    if _CN_CHARS.isdisjoint(name):
        return None
    out = re.sub(f"[{_CN}]+", lambda m: _safe_int(m.group(0)), name)
    return out if out != name else None


def _safe_int(numeral: str) -> str:
    try:
        return str(cn_to_int(numeral))
    except ValueError:
        return numeral

