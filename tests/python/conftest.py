"""Fixtures that run berth for the end-to-end tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from mypy_boto3_ecr import ECRClient

from berth_server import BerthServer, ServerFactory
from oci_support import RegistryLogin, ecr_api_client, registry_login

SERVER_LOG_LINES_ON_FAILURE = 60


def pytest_configure(config: pytest.Config) -> None:
    # Keep the developer's AWS profile, config files and instance metadata out of the
    # clients: every client here gets its endpoint, region and keys explicitly.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR"):
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def berth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BerthServer]:
    """One server shared by the whole session, in a fresh data directory."""
    server = BerthServer(tmp_path_factory.mktemp("berth"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ecr_api(berth: BerthServer) -> ECRClient:
    """A boto3 ECR client for the shared server."""
    return ecr_api_client(berth)


@pytest.fixture(scope="session")
def oci_login(berth: BerthServer, ecr_api: ECRClient) -> RegistryLogin:
    """The OCI login for the shared server: user AWS and a GetAuthorizationToken password."""
    return registry_login(berth, ecr_api)


@pytest.fixture
def short_tmp_path() -> Iterator[Path]:
    """A temporary directory with a short path, for tools that limit path lengths.

    podman rejects a --runroot longer than 50 characters, which pytest's tmp_path exceeds.
    """
    path = Path(tempfile.mkdtemp(prefix="berth-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_berth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    factory = ServerFactory(lambda: tmp_path_factory.mktemp("berth-own"))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the end of the server output to the report of a failed test."""
    report = yield
    if report.failed:
        for server in servers_used_by(item):
            tail = server.log_tail(SERVER_LOG_LINES_ON_FAILURE)
            report.sections.append((f"berth output ({server.log_path})", tail))
    return report


def servers_used_by(item: pytest.Item) -> list[BerthServer]:
    servers: list[BerthServer] = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, BerthServer):
            servers.append(value)
        elif isinstance(value, ServerFactory):
            servers.extend(value.servers)
    return servers
