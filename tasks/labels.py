"""The one label matcher: printed label text → row key, for every format.

Labels drift in real reports (FORMAT.md): full/half-width brackets and colons, curly/straight
quotes, spaces and line breaks inside labels, paraphrases (其他法律法规规章禁止公开), rows cut
across a page break. Matching works on *cores*: the label after `normalize()`, compared with the
cores listed in `tasks/spec/labels.json`, exactly first and then fuzzily (rapidfuzz) with a
threshold and a margin over the runner-up, so an unclear label is reported, never guessed.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

from rapidfuzz import fuzz

from tasks import spec

_NUMBERING = re.compile(
    r"^(?:[（(]?[一二三四五六七八九十]+[)）、.．,，]|[（(][0-9]+[)）]|[0-9]+[.．、,，)）](?![0-9])|第[一二三四五六七八九十]+[项、])+")
_DROP = re.compile(r"[\s\u3000\"'“”‘’「」『』《》〈〉()（）\[\]【】、,，.．。:：;；!！?？\-—_·/|]+")


_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """NFKC, no whitespace, no quotes/brackets/punctuation, no leading numbering (一、 （一） 1.)."""
    t = _SPACE.sub("", unicodedata.normalize("NFKC", text or ""))
    return _DROP.sub("", _NUMBERING.sub("", t))


@lru_cache(maxsize=65536)
def squash(text: str) -> str:
    """Normalise without removing numbering (for section/table markers like 第二十条第（一）项)."""
    t = unicodedata.normalize("NFKC", text or "")
    return _DROP.sub("", _SPACE.sub("", t))


def normalize_and_squash(text: str) -> tuple[str, str]:
    """(normalize(text), squash(text)) with one NFKC pass, uncached (for one-off texts such as
    a table row's joined cells, which would only crowd the caches)."""
    t = _SPACE.sub("", unicodedata.normalize("NFKC", text or ""))
    return _DROP.sub("", _NUMBERING.sub("", t)), _DROP.sub("", t)


@dataclass(frozen=True, slots=True)
class Match:
    key: str | None          # "requests.granted", or None
    score: float             # 0..100
    core: str                # the normalised text that was matched
    ambiguous: bool = False  # two keys scored too close to tell apart


@cache
def _row_cores() -> tuple[tuple[str, str], ...]:
    out = []
    for k, cores in spec.labels()["rows"].items():
        for c in cores:
            out.append((normalize(c), k))
    return tuple(out)


@cache
def _exact_index() -> dict[str, str]:
    return {c: k for c, k in _row_cores()}


# Cores of two characters or fewer (其他, 总计, 规章) must match exactly: fuzzy scores on very
# short strings mean nothing.
_MIN_FUZZY_LEN = 4
THRESHOLD = 88.0
MARGIN = 6.0


_INNER_NUMBERING = re.compile(r"(?:[（(][一二三四五六七八九十]+[)）]|(?<![0-9])[0-9]{1,2}[.．、](?![0-9]))")


@lru_cache(maxsize=16384)
def match_row(label: str, table: str | None = None) -> Match:
    """Match one printed row label (the most specific part, e.g. '2.重复申请') to a row key.

    A label that carries its group in front ("（三）不予公开 1.属于国家秘密") is also tried from
    its last inner numbering on. Memoised: labels repeat across reports (Match is frozen)."""
    m = _match_core(label, table)
    if m.key is None:
        t = unicodedata.normalize("NFKC", label or "")
        tails = [t[x.start():] for x in _INNER_NUMBERING.finditer(t) if x.start() > 0]
        for tail in reversed(tails):
            m2 = _match_core(tail, table)
            if m2.key is not None:
                return m2
    return m


def _match_core(label: str, table: str | None) -> Match:
    core = normalize(label)
    if not core:
        return Match(None, 0.0, core)
    exact = _exact_index().get(core)
    if exact and (table is None or exact.startswith(table + ".")):
        return Match(exact, 100.0, core)
    if len(core) < _MIN_FUZZY_LEN:
        return Match(None, 0.0, core)
    best: dict[str, float] = {}
    for c, k in _row_cores():
        if table is not None and not k.startswith(table + "."):
            continue
        if len(c) < _MIN_FUZZY_LEN:
            continue
        s = _score(core, c)
        if s > best.get(k, 0.0):
            best[k] = s
    if not best:
        return Match(None, 0.0, core)
    ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
    k1, s1 = ranked[0]
    s2 = ranked[1][1] if len(ranked) > 1 else 0.0
    if s1 < THRESHOLD:
        return Match(None, s1, core)
    if s1 - s2 < MARGIN:
        return Match(None, s1, core, ambiguous=True)
    return Match(k1, s1, core)


def _score(core: str, ref: str) -> float:
    """Similarity of a printed core to a reference core. A printed label may be cut short (a row
    split across pages) or carry extra words; partial matches count only when the shorter side
    is long enough to be specific."""
    full = fuzz.ratio(core, ref)
    if len(core) >= 6 and ref.startswith(core):
        return max(full, 95.0)      # a label cut short at a line or page break
    shorter = min(len(core), len(ref))
    if shorter >= 8 and (len(core) >= 0.6 * len(ref)):
        full = max(full, fuzz.partial_ratio(core, ref) - 2.0)
    return full


def contains_any(text: str, cores: list[str] | tuple[str, ...]) -> bool:
    s = squash(text)
    return any(c in s for c in _squashed(tuple(cores)))


@lru_cache(maxsize=256)
def _squashed(cores: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(squash(c) for c in cores)
