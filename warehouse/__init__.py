"""The DuckDB warehouse as SQL files (see README.md beside this file).

- ``schema/NNN_<name>.sql``: table migrations, applied once each in NNN order by
  :func:`tasks.load.open_warehouse` and recorded in ``schema_version``.
- ``models/<stg|mart>_<name>.sql``: one view per file, the file holding only the SELECT; the
  view is named after the file. A file whose first line is ``-- macro(a, b, …)`` defines a
  table macro with those parameters instead. Models are (re)created on every writable open,
  in dependency order (a model depends on every other model whose name it mentions).

This module only finds and orders the files; it does not touch a database.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

WAREHOUSE_DIR = Path(__file__).parent
SCHEMA_DIR = WAREHOUSE_DIR / "schema"
MODELS_DIR = WAREHOUSE_DIR / "models"

_MIGRATION_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_MODEL_RE = re.compile(r"^((?:stg|mart)_[a-z0-9_]+)\.sql$")
_MACRO_RE = re.compile(r"^--\s*macro\(([^)]*)\)\s*$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    sql: str                             # the SELECT (comments included)
    params: tuple[str, ...] | None       # macro parameters, None for a view
    depends_on: tuple[str, ...]

    @property
    def kind(self) -> str:
        return "view" if self.params is None else "macro"

    def create_sql(self) -> str:
        body = self.sql.strip().rstrip(";")
        if self.params is None:
            return f"CREATE OR REPLACE VIEW {self.name} AS\n{body}"
        return f"CREATE OR REPLACE MACRO {self.name}({', '.join(self.params)}) AS TABLE\n{body}"


def migrations(directory: Path = SCHEMA_DIR) -> list[Migration]:
    out: list[Migration] = []
    for p in sorted(directory.glob("*.sql")):
        m = _MIGRATION_RE.match(p.name)
        if not m:
            raise ValueError(f"schema file not named NNN_name.sql: {p.name}")
        out.append(Migration(int(m.group(1)), m.group(2), p.read_text(encoding="utf-8")))
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate schema versions in {directory}")
    return out


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def models(directory: Path = MODELS_DIR) -> list[Model]:
    """All models, in an order where every model comes after the models it depends on."""
    raw: dict[str, tuple[str, tuple[str, ...] | None]] = {}
    for p in sorted(directory.glob("*.sql")):
        m = _MODEL_RE.match(p.name)
        if not m:
            raise ValueError(f"model file not named stg_*.sql / mart_*.sql: {p.name}")
        sql = p.read_text(encoding="utf-8")
        first = sql.splitlines()[0] if sql else ""
        mm = _MACRO_RE.match(first)
        params = tuple(x.strip() for x in mm.group(1).split(",") if x.strip()) if mm else None
        raw[m.group(1)] = (sql, params)
    deps: dict[str, tuple[str, ...]] = {}
    for name, (sql, _) in raw.items():
        text = _strip_comments(sql)
        deps[name] = tuple(sorted(o for o in raw if o != name
                                  and re.search(rf"\b{re.escape(o)}\b", text)))
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(raw):
        ready = sorted(n for n in raw if n not in done and all(d in done for d in deps[n]))
        if not ready:
            cyc = sorted(n for n in raw if n not in done)
            raise ValueError(f"dependency cycle among models: {cyc}")
        for n in ready:
            ordered.append(n)
            done.add(n)
    return [Model(n, raw[n][0], raw[n][1], deps[n]) for n in ordered]
