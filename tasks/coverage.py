"""Coverage: which agencies of the roster reported for a year, and which reports match no agency.

The roster is a CSV ``agency,region_code,level,category,email`` (``examples/roster.csv``, or the
one ``nianbao synth`` writes). :func:`load_roster` puts it into the warehouse (tables ``roster``
and ``agency_aliases``, ``warehouse/schema/06x_*.sql``); :func:`refresh_matches` decides for
every report which roster agency it is from (table ``report_agency``); the views
``mart_coverage`` (roster agency × year) and ``mart_coverage_unmatched`` (reports of no roster
agency) are plain SQL over those tables.

Matching rule (first that applies wins; :func:`match_agency`):

1. ``alias``: the report's name, normalised (:func:`normalize`), is in the manual alias list
   (for the report's region, or for any region when the alias has none).
2. ``exact``: the normalised names are equal.
3. ``canonical``: same region code and equal :func:`canonical_name`: the names without the
   region prefix chain of that code (淮安市洪泽区人民政府 → 人民政府 for 320813, full names and
   short forms 淮安/洪泽 alike, resolved with ``tasks.regions``) with the abbreviations of
   :data:`ABBREVIATIONS` expanded (湛河区工信局 → 工业和信息化局).
4. ``abbreviation``: same region code, and the report's name without its region prefix (as
   printed, or with abbreviations expanded; at least 3 characters) is a character subsequence
   of exactly one roster agency's canonical name of that region, ending in the same character
   (工信局 ⊂ 科技和工业信息化局, 城管执法局 ⊂ 城市管理和综合执法局).
5. ``suffix``: the report has no region code, and exactly one roster agency's normalised name
   ends with the report's (≥ 4 characters): 花石镇人民政府 → 湘潭县花石镇人民政府.

Otherwise the report matches no roster agency (``none``). Across reports (years, duplicates)
an agency is its roster ``agency_id`` when matched, else ``region_code:canonical name``
(:func:`agency_key`).
"""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Iterable

ROSTER_COLUMNS = ("agency", "region_code", "level", "category", "email")
ALIAS_COLUMNS = ("alias", "agency", "region_code")

# Abbreviations used in agency names → the words of the official name. Applied in this order
# (longer first) to the name without its region prefix. Documented in README.md.
ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("人民政府办", "人民政府办公室"),
    ("政府办公室", "人民政府办公室"),
    ("政府办", "人民政府办公室"),
    ("市场监管", "市场监督管理"),
    ("退役军人局", "退役军人事务局"),
    ("交通局", "交通运输局"),
    ("应急局", "应急管理局"),
    ("审批局", "行政审批服务局"),
    ("工信", "工业和信息化"),
    ("发改", "发展和改革"),
    ("人社", "人力资源和社会保障"),
    ("住建", "住房和城乡建设"),
    ("卫健", "卫生健康"),
    ("医保", "医疗保障"),
    ("文旅", "文化和旅游"),
    ("城管", "城市管理"),
    ("自规", "自然资源和规划"),
)
# Names that denote a region's own aggregate report once the region prefix is removed
# (湘潭县 → "", 湘潭县全县 → 全县).
AGGREGATE_NAMES = frozenset({"", "全省", "全市", "全县", "全区", "全州", "全旗", "全盟", "本级"})
MATCH_RULES = ("alias", "exact", "canonical", "abbreviation", "suffix", "none")


# ------------------------------------------------------------------------------- names
def normalize(name: str | None) -> str:
    """NFKC, no whitespace, half-width brackets."""
    if not name:
        return ""
    s = unicodedata.normalize("NFKC", name)
    s = re.sub(r"\s+", "", s)
    return s.replace("（", "(").replace("）", ")")


@cache
def _prefixes(region_code: str | None) -> tuple[str, ...]:
    """Names of the region and its ancestors (full names and short forms), longest first."""
    if not region_code:
        return ()
    from tasks.regions import ancestors, region, short_name

    names: set[str] = set()
    for code in (region_code, *ancestors(region_code)):
        r = region(code)
        if r is None:
            continue
        names.add(r.name)
        s = short_name(r.name)
        if s:
            names.add(s)
    return tuple(sorted(names, key=len, reverse=True))


def strip_region(name: str, region_code: str | None) -> str:
    """The name without the chain of region names that starts it (淮安市洪泽区人民政府 → 人民政府)."""
    s = normalize(name)
    prefixes = _prefixes(region_code)
    changed = True
    while changed and s:
        changed = False
        for p in prefixes:
            if s.startswith(p):
                s = s[len(p):]
                changed = True
                break
    return s


def expand_abbreviations(name: str) -> str:
    for short, full in ABBREVIATIONS:
        if short in name and full not in name:
            name = name.replace(short, full)
    return name


def canonical_name(name: str | None, region_code: str | None) -> str:
    """The name compared within a region: region prefix chain removed, abbreviations expanded."""
    if not name:
        return ""
    return expand_abbreviations(strip_region(name, region_code))


def agency_key(name: str | None, region_code: str | None) -> str | None:
    """An agency across reports when no roster agency matches: ``region_code:canonical``
    (the whole normalised name when the region is unknown)."""
    if not name or not normalize(name):
        return None
    if not region_code:
        return ":" + normalize(name)
    return f"{region_code}:{canonical_name(name, region_code)}"


def is_aggregate_name(name: str | None, region_code: str | None) -> bool:
    """A name that is only its region (湘潭县, 湘潭县全县): the region's own aggregate report."""
    return bool(name) and bool(region_code) and canonical_name(name, region_code) in AGGREGATE_NAMES


def _subsequence(short: str, full: str) -> bool:
    it = iter(full)
    return all(ch in it for ch in short)


# ------------------------------------------------------------------------------ roster
@dataclass(frozen=True, slots=True)
class RosterAgency:
    agency: str
    region_code: str | None
    level: str | None = None
    category: str | None = None
    email: str | None = None

    @property
    def agency_id(self) -> str:
        return f"{self.region_code or ''}:{normalize(self.agency)}"

    @property
    def canonical(self) -> str:
        return canonical_name(self.agency, self.region_code)


@dataclass(frozen=True, slots=True)
class Alias:
    alias: str                    # normalised spelling
    agency_id: str
    region_code: str | None = None


def read_roster(path: str | Path) -> list[RosterAgency]:
    """Read a roster CSV (UTF-8, BOM allowed). Raises ValueError for a missing column or a
    duplicate agency (same name and region)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("agency", "region_code") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"roster {path}: missing column(s) {', '.join(missing)}; "
                             f"expected {','.join(ROSTER_COLUMNS)}")
        out: list[RosterAgency] = []
        seen: set[str] = set()
        for i, row in enumerate(reader, start=2):
            name = (row.get("agency") or "").strip()
            if not name:
                continue
            code = (row.get("region_code") or "").strip() or None
            if code is not None and not re.fullmatch(r"[0-9]{6}", code):
                raise ValueError(f"roster {path} line {i}: region_code {code!r} is not 6 digits")
            a = RosterAgency(name, code, *((row.get(c) or "").strip() or None
                                           for c in ("level", "category", "email")))
            if a.agency_id in seen:
                raise ValueError(f"roster {path} line {i}: {name} ({code}) listed twice")
            seen.add(a.agency_id)
            out.append(a)
    return out


def read_aliases(path: str | Path, roster: list[RosterAgency]) -> list[Alias]:
    """Alias CSV ``alias,agency,region_code``: `agency` names a roster agency (its name as
    listed; `region_code` narrows both the alias and the agency when given)."""
    by_name: dict[str, list[RosterAgency]] = {}
    for a in roster:
        by_name.setdefault(normalize(a.agency), []).append(a)
    out: list[Alias] = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("alias", "agency") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"aliases {path}: missing column(s) {', '.join(missing)}; "
                             f"expected {','.join(ALIAS_COLUMNS)}")
        for i, row in enumerate(reader, start=2):
            alias, name = normalize(row.get("alias")), normalize(row.get("agency"))
            if not alias or not name:
                continue
            code = (row.get("region_code") or "").strip() or None
            cands = [a for a in by_name.get(name, []) if code is None or a.region_code == code]
            if len(cands) != 1:
                what = "not in the roster" if not cands else "ambiguous (give region_code)"
                raise ValueError(f"aliases {path} line {i}: agency {row.get('agency')!r} {what}")
            out.append(Alias(alias, cands[0].agency_id, code))
    return out


@dataclass(frozen=True, slots=True)
class Match:
    agency_id: str | None
    rule: str                      # one of MATCH_RULES


class Matcher:
    """Matches report names to roster agencies (the rule in the module docstring)."""

    def __init__(self, roster: Iterable[RosterAgency], aliases: Iterable[Alias] = ()):
        self.roster = list(roster)
        self.by_id = {a.agency_id: a for a in self.roster}
        self.aliases: dict[str, list[Alias]] = {}
        for al in aliases:
            self.aliases.setdefault(al.alias, []).append(al)
        self.exact: dict[str, list[str]] = {}
        self.by_region: dict[str, list[tuple[str, str]]] = {}   # code → [(canonical, id)]
        for a in self.roster:
            self.exact.setdefault(normalize(a.agency), []).append(a.agency_id)
            if a.region_code:
                self.by_region.setdefault(a.region_code, []).append((a.canonical, a.agency_id))

    def match(self, name: str | None, region_code: str | None) -> Match:
        n = normalize(name)
        if not n:
            return Match(None, "none")
        for al in self.aliases.get(n, ()):
            if al.region_code is None or al.region_code == region_code:
                return Match(al.agency_id, "alias")
        ids = self.exact.get(n, [])
        if len(ids) > 1 and region_code:
            ids = [i for i in ids if self.by_id[i].region_code == region_code]
        if len(ids) == 1:
            return Match(ids[0], "exact")
        if region_code:
            canon = canonical_name(n, region_code)
            local = self.by_region.get(region_code, [])
            same = [i for c, i in local if c == canon]
            if len(same) == 1:
                return Match(same[0], "canonical")
            if not same:
                short = {canon, strip_region(n, region_code)}
                sub = {i for c, i in local for s in short
                       if len(s) >= 3 and c and c[-1] == s[-1] and _subsequence(s, c)}
                if len(sub) == 1:
                    return Match(sub.pop(), "abbreviation")
        elif len(n) >= 4:
            ends = [a.agency_id for a in self.roster if normalize(a.agency).endswith(n)]
            if len(ends) == 1:
                return Match(ends[0], "suffix")
        return Match(None, "none")


def match_agency(name: str | None, region_code: str | None, roster: Iterable[RosterAgency],
                 aliases: Iterable[Alias] = ()) -> Match:
    """One name against a roster (builds a :class:`Matcher`; use one for many names)."""
    return Matcher(roster, aliases).match(name, region_code)


# --------------------------------------------------------------------------- warehouse
def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def load_roster(con, roster_path: str | Path, aliases_path: str | Path | None = None) -> int:
    """Replace the warehouse's roster (and alias list) with the CSV files', then
    :func:`refresh_matches`, all in one transaction. Returns the number of roster agencies."""
    roster = read_roster(roster_path)
    aliases = read_aliases(aliases_path, roster) if aliases_path else []
    now = _utc_now()
    con.begin()
    try:
        con.execute("DELETE FROM roster").fetchall()
        con.execute("DELETE FROM agency_aliases").fetchall()
        if roster:
            con.executemany("INSERT INTO roster VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [(a.agency_id, a.agency, a.region_code, a.level, a.category,
                              a.email, a.canonical, now) for a in roster])
        if aliases:
            con.executemany("INSERT INTO agency_aliases VALUES (?, ?, ?)",
                            [(al.alias, al.region_code, al.agency_id) for al in aliases])
        _refresh(con)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return len(roster)


def roster_from_warehouse(con) -> tuple[list[RosterAgency], list[Alias]]:
    roster = [RosterAgency(*row) for row in con.execute(
        "SELECT agency, region_code, level, category, email FROM roster ORDER BY agency_id"
    ).fetchall()]
    aliases = [Alias(*row) for row in con.execute(
        "SELECT alias, agency_id, region_code FROM agency_aliases").fetchall()]
    return roster, aliases


def refresh_matches(con) -> int:
    """Recompute ``report_agency`` for every report in one transaction; returns the number of
    reports matched to a roster agency."""
    con.begin()
    try:
        n = _refresh(con)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return n


def _refresh(con) -> int:
    roster, aliases = roster_from_warehouse(con)
    matcher = Matcher(roster, aliases)
    rows = []
    for sha, agency, code in con.execute(
            "SELECT sha256, agency, region_code FROM raw_reports").fetchall():
        m = matcher.match(agency, code)
        key = m.agency_id or agency_key(agency, code)
        rows.append((sha, key, m.agency_id, m.rule,
                     canonical_name(agency, code) if agency else None))
    con.execute("DELETE FROM report_agency").fetchall()
    if rows:
        import polars as pl

        from tasks.load import arrow_source

        frame = pl.DataFrame(rows, schema={"sha256": pl.Utf8, "agency_key": pl.Utf8,
                                           "agency_id": pl.Utf8, "rule": pl.Utf8,
                                           "canonical": pl.Utf8}, orient="row")
        con.register("_report_agency_in", arrow_source(frame))
        try:
            con.execute("INSERT INTO report_agency SELECT * FROM _report_agency_in").fetchall()
        finally:
            con.unregister("_report_agency_in")
    return sum(1 for r in rows if r[2] is not None)


def _filtered(con, view: str, year: int | None, region: str | None):
    """A coverage view as a polars frame, optionally for one year and inside one region."""
    from tasks.rollup import query_frame

    where, params = [], []
    if year is not None:
        where.append("year = ?")
        params.append(year)
    if region is not None:
        where.append("? IN (region_code, province_code, city_code, county_code)")
        params.append(region)
    sql = f"SELECT * FROM {view}" + (" WHERE " + " AND ".join(where) if where else "")
    return query_frame(con, sql + " ORDER BY year, region_code, agency", params)


def coverage(con, year: int | None = None, region: str | None = None):
    """``mart_coverage`` as a polars frame, optionally for one year and inside one region."""
    return _filtered(con, "mart_coverage", year, region)


def unmatched(con, year: int | None = None, region: str | None = None):
    """``mart_coverage_unmatched``: current reports that match no roster agency."""
    return _filtered(con, "mart_coverage_unmatched", year, region)
