from __future__ import annotations

import pytest

from tests.flows.prefect_server import PrefectServer


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """One real Prefect server on loopback for the whole session (started on first use)."""
    server = PrefectServer(tmp_path_factory.mktemp("prefect-home")).start()
    yield server
    server.stop()
