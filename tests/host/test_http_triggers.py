"""HTTP triggers through a running local host: routing, request/response mapping, auth levels."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.host import LocalHost, running_host
from tests.host.process import HOST_SETTINGS

APP = str(Path(__file__).parent / "apps" / "http_app.py")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    data = tmp_path_factory.mktemp("http-host")
    settings = {**HOST_SETTINGS, "TIMER_LOG": str(data / "timers.log"), "STARTUP_SCHEDULE": "0 0 0 1 1 *"}
    with running_host(APP, data, 0, settings, grace_period=5) as running:
        yield running


def test_route_params_query_body_and_headers_reach_the_function(host: LocalHost) -> None:
    response = httpx.post(
        f"{host.base_url}/api/orders/0042/17?verbose=1&tag=a&tag=b",
        json={"lines": 3},
        headers={"X-Test": "hello"},
    )
    assert response.status_code == 201
    assert response.headers["x-echo"] == "yes"
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["method"] == "POST"
    assert document["route"] == {"store": "0042", "order": "17"}
    assert document["query"] == {"verbose": "1", "tag": "a,b"}
    assert document["body"] == {"lines": 3}
    assert document["header"] == "hello"
    assert document["url"].startswith(f"{host.base_url}/api/orders/0042/17?")


def test_routes_are_case_insensitive_and_constraints_apply(host: LocalHost) -> None:
    assert httpx.put(f"{host.base_url}/api/ORDERS/0042/17", content=b"").status_code == 201
    assert httpx.post(f"{host.base_url}/api/orders/0042/not-a-number").status_code == 404
    assert httpx.get(f"{host.base_url}/api/orders/0042/17").status_code == 405
    assert httpx.get(f"{host.base_url}/api/nowhere").status_code == 404


def test_function_level_needs_a_key_in_the_query_or_the_header(host: LocalHost) -> None:
    assert host.keys is not None
    url = f"{host.base_url}/api/secret"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, params={"code": "wrong"}).status_code == 401
    own_key = host.keys.default_key("secret")
    ok = httpx.get(url, params={"code": own_key})
    assert (ok.status_code, ok.text) == (200, "hello from secret")
    assert httpx.get(url, headers={"x-functions-key": own_key}).status_code == 200
    assert (
        httpx.get(url, headers={"x-functions-key": host.keys.host_function_keys["default"]}).status_code
        == 200
    )
    assert httpx.get(url, params={"code": host.keys.master}).status_code == 200


def test_admin_level_needs_the_master_key(host: LocalHost) -> None:
    assert host.keys is not None
    url = f"{host.base_url}/api/master-only"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, params={"code": host.keys.host_function_keys["default"]}).status_code == 401
    response = httpx.get(url, headers={"x-functions-key": host.keys.master})
    assert (response.status_code, response.text) == (200, "master ok")  # a str return is a 200


def test_keys_are_kept_in_the_data_folder(host: LocalHost) -> None:
    assert host.keys is not None
    saved = (host.data_dir / "host-keys.json").read_text()
    assert host.keys.master in saved and host.keys.default_key("secret") in saved


def test_a_failing_function_answers_500(host: LocalHost) -> None:
    assert httpx.get(f"{host.base_url}/api/boom").status_code == 500


def test_slow_sync_functions_run_in_parallel_threads(host: LocalHost) -> None:
    import concurrent.futures
    import time

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = list(
            pool.map(
                lambda _: httpx.get(f"{host.base_url}/api/slow?seconds=1", timeout=10).status_code, range(4)
            )
        )
    assert codes == [200] * 4
    assert time.monotonic() - started < 2.5


def test_function_urls_carry_their_key(host: LocalHost) -> None:
    assert host.keys is not None
    assert host.function_url("secret") == f"{host.base_url}/api/secret?code={host.keys.default_key('secret')}"
    assert host.function_url("slow") == f"{host.base_url}/api/slow"
    assert "master-only" in host.banner()
