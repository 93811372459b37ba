"""Scale-out: the flow extracts on a dask.distributed LocalCluster (through prefect-dask) and
writes the same warehouse as a local run."""
from __future__ import annotations

import pytest

from tests.flows.test_pipeline import province, snapshot

RUN_TABLES = {"raw_runs", "raw_file_sightings", "schema_version"}


@pytest.mark.slow
def test_dask_cluster_run_gives_the_same_warehouse_as_a_local_run(prefect_server, tmp_path):
    from distributed import LocalCluster
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.pipeline import run_pipeline, run_plain

    src = province(tmp_path / "in", agencies=4)
    local = run_plain([str(src)], str(tmp_path / "local.duckdb"), str(src / "manifest.csv"),
                      workers=1)
    # workers as threads of this process (their Prefect client reaches the same server);
    # tcp on loopback, as a cluster of machines would talk
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
            dask = run_pipeline([str(src)], str(tmp_path / "dask.duckdb"),
                                str(src / "manifest.csv"), dask_address=cluster.scheduler_address,
                                batch_size=10)
        executed = sum(w.state.executed_count for w in cluster.workers.values())
    assert dask.status == "complete" and dask.executor.startswith("dask(tcp://")
    assert executed >= dask.batches, "the extraction tasks ran on the cluster's workers"
    assert dask.extracted == local.extracted == local.files and dask.batches == -(-local.files // 10)
    assert (dask.reports, dask.errors, dask.findings_by_rule) == \
           (local.reports, local.errors, local.findings_by_rule)
    a = snapshot(tmp_path / "local.duckdb", drop_run_columns=True, skip=RUN_TABLES)
    b = snapshot(tmp_path / "dask.duckdb", drop_run_columns=True, skip=RUN_TABLES)
    assert a.keys() == b.keys() and a["raw_cells"]
    for t in a:
        assert a[t] == b[t], t
