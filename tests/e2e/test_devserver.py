"""`make dev`'s server as a user runs it: a process that answers HTTP and stops cleanly."""

import json
import secrets
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.devprocess import dev_server_process, get


@pytest.fixture
def own_dev_server(tmp_path):
    """Given a dev server of this test's own, which the test may stop."""
    with dev_server_process(tmp_path) as server:
        yield server


def test_liveliness_answers_200(dev_server):
    status, _, _ = get(dev_server.url + "/health/liveliness")

    assert status == 200


def test_unknown_route_is_api_gateways_404(dev_server):
    status, headers, body = get(dev_server.url + "/no/such/route")

    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "Not Found"}


def test_known_path_with_another_method_is_404_like_api_gateway(dev_server):
    status, _, body = get(dev_server.url + "/health/liveliness", method="DELETE")

    assert status == 404
    assert json.loads(body) == {"message": "Not Found"}


def test_fifty_parallel_requests_all_succeed(dev_server):
    url = dev_server.url + "/health/liveliness"

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda _: get(url)[0], range(100)))

    assert statuses == [200] * 100


def test_startup_prints_the_url_the_master_key_and_ready(dev_server):
    log = dev_server.log()

    assert dev_server.url in log
    assert dev_server.master_key in log
    assert "ready" in log.splitlines()
    assert "WEAK MASTER KEY" not in log  # a random key is strong


def test_a_weak_master_key_is_accepted_locally_with_a_loud_warning(tmp_path):
    # Given make dev started with a key a deployed stack refuses (under 128 bits)
    with dev_server_process(tmp_path, master_key="sk-1234", workers=1) as server:
        # When it is used (by a handler in a worker process, as in Lambda)
        status, _, _ = get(server.url + "/team/list",
                           headers={"Authorization": "Bearer sk-1234"})
        log = server.log()
    # Then it works here, and the console said loudly that it is weak
    assert status == 200
    assert "WEAK MASTER KEY" in log


def test_the_log_holds_the_request_but_never_the_authorization_header_or_query(own_dev_server):
    secret = "sk-" + secrets.token_urlsafe(16)
    get(
        own_dev_server.url + f"/health/liveliness?key={secret}",
        headers={"Authorization": f"Bearer {secret}"},
    )
    own_dev_server.process.send_signal(signal.SIGTERM)
    own_dev_server.process.wait(timeout=10)

    log = own_dev_server.log()
    assert "GET /health/liveliness 200" in log
    assert secret not in log


def test_sigterm_stops_it_with_exit_code_0(own_dev_server):
    own_dev_server.process.send_signal(signal.SIGTERM)

    assert own_dev_server.process.wait(timeout=10) == 0


def test_sigint_stops_it_with_exit_code_0(own_dev_server):
    own_dev_server.process.send_signal(signal.SIGINT)

    assert own_dev_server.process.wait(timeout=10) == 0
