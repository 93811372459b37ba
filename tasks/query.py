"""Read-only SQL against the warehouse (`nianbao sql`).

The connection is opened read-only with external access disabled and the configuration locked:
no writes, no ATTACH, no COPY/read_csv of other files, no extension installs.
"""
from __future__ import annotations

from pathlib import Path

import duckdb


class QueryError(Exception):
    pass


def connect_read_only(path: str | Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True,
                          config={"enable_external_access": False, "lock_configuration": True})


def run_query(path: str | Path, query: str) -> tuple[list[str], list[tuple]]:
    try:
        con = connect_read_only(path)
    except duckdb.Error as e:
        raise QueryError(f"无法以只读方式打开数据仓库：{e}") from e
    try:
        cur = con.execute(query)
        if cur.description is None:
            return [], []
        cols = [d[0] for d in cur.description]
        return cols, cur.fetchall()
    except duckdb.Error as e:
        raise QueryError(f"查询失败（数据仓库为只读，不能写入或附加其他文件）：{e}") from e
    finally:
        con.close()
