"""Issue #17: function-specific keys vs host keys on the local host, managed as in Azure (the key
management API, master key only), at least as strict: one function's key opens no other."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.host import LocalHost, running_host
from tests.host.process import HOST_SETTINGS

APP = str(Path(__file__).parent / "apps" / "http_app.py")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    data = tmp_path_factory.mktemp("keys-host")
    settings = {**HOST_SETTINGS, "TIMER_LOG": str(data / "timers.log"), "STARTUP_SCHEDULE": "0 0 0 1 1 *"}
    with running_host(APP, data, 0, settings, grace_period=5) as running:
        yield running


def test_a_named_function_key_opens_its_function_only_and_survives_a_restart(host: LocalHost) -> None:
    assert host.keys is not None
    master = {"x-functions-key": host.keys.master}
    set_key = httpx.put(
        f"{host.base_url}/admin/functions/secret/keys/ops", json={"value": "o" * 32}, headers=master
    )
    assert set_key.status_code == 200 and set_key.json() == {"name": "ops", "value": "o" * 32}
    assert httpx.get(f"{host.base_url}/api/secret", params={"code": "o" * 32}).status_code == 200
    assert httpx.get(f"{host.base_url}/api/master-only", params={"code": "o" * 32}).status_code == 401
    listed = httpx.get(f"{host.base_url}/admin/functions/secret/keys", headers=master).json()["keys"]
    assert {k["name"] for k in listed} == {"default", "ops"}
    assert "o" * 32 in (host.data_dir / "host-keys.json").read_text()


def test_the_key_api_needs_the_master_key_and_refuses_weak_keys(host: LocalHost) -> None:
    assert host.keys is not None
    url = f"{host.base_url}/admin/functions/secret/keys/ops"
    own = host.keys.default_key("secret")
    host_key = host.keys.host_function_keys["default"]
    for key in (None, own, host_key):
        headers = {"x-functions-key": key} if key else {}
        assert httpx.put(url, json={"value": "x" * 32}, headers=headers).status_code == 401
    master = {"x-functions-key": host.keys.master}
    assert httpx.put(url, json={"value": "short"}, headers=master).status_code == 400
    assert httpx.put(f"{host.base_url}/admin/functions/nope/keys/ops", headers=master).status_code == 404
    deleted = httpx.delete(f"{host.base_url}/admin/host/keys/default", headers=master)
    assert deleted.status_code == 400  # the default host key stays


def test_one_functions_key_opens_no_other_function(host: LocalHost) -> None:
    assert host.keys is not None
    assert host.keys.authorizes("function", "secret", host.keys.default_key("secret"))
    assert not host.keys.authorizes("function", "other", host.keys.default_key("secret"))
    assert not host.keys.authorizes("admin", "master_only", host.keys.host_function_keys["default"])
