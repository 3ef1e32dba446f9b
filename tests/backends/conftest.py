import pytest

from genrm.testing import FakeOpenAIServer

NO_KEY_ENV = "GENRM_TEST_OPENAI_KEY_UNSET"


@pytest.fixture
def serve():
    """Start FakeOpenAIServers on 127.0.0.1 (random ports); all are stopped at teardown."""
    servers = []

    def start(**kwargs) -> FakeOpenAIServer:
        srv = FakeOpenAIServer(**kwargs).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    # httpx honours proxy variables: keep requests to the local server off any proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
