"""Envelope unwrapping, retries (idempotent only; connection errors, 502/503/595 only), error mapping."""

from __future__ import annotations

import httpx
import pytest
from tests.unit.api.helpers import arun, envelope, make_client, pve_error, router

from proxmox_mpc.errors import (
    ApiConflict,
    ApiError,
    ApiNotFound,
    AuthError,
    ConnectionFailed,
    ExitCode,
    LockedError,
    OperationTimeout,
)


async def _request(client, method, path, **data):
    async with client as api:
        return await api.request(method, path, data=data or None)


def test_data_envelope_is_unwrapped_and_params_encoded():
    pve = router()
    route = pve.get("/cluster/resources").mock(return_value=envelope([{"vmid": 101}]))
    result = arun(_call(make_client(pve), "cluster_resources", "vm"))
    assert result == [{"vmid": 101}]
    assert route.calls.last.request.url.params["type"] == "vm"


async def _call(client, method, *args):
    async with client as api:
        return await getattr(api, method)(*args)


def test_booleans_are_sent_as_0_and_1_and_none_is_dropped():
    pve = router()
    route = pve.put("/nodes/pve1/qemu/101/config").mock(return_value=envelope(None))
    arun(
        _request(make_client(pve), "PUT", "/nodes/pve1/qemu/101/config", onboot=True, agent=False, name=None)
    )
    body = route.calls.last.request.content.decode()
    assert sorted(body.split("&")) == ["agent=0", "onboot=1"]


@pytest.mark.parametrize("status", [502, 503, 595])
def test_get_is_retried_on_gateway_statuses(status):
    pve = router()
    route = pve.get("/nodes").mock(side_effect=[pve_error(status, "no route to host"), envelope([])])
    assert arun(_call(make_client(pve, retries=3), "nodes")) == []
    assert route.call_count == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.RemoteProtocolError("dropped"),
    ],
    ids=["connect-error", "connect-timeout", "disconnected"],
)
def test_get_is_retried_on_connection_errors(failure):
    pve = router()
    route = pve.get("/nodes").mock(side_effect=[failure, failure, envelope([{"node": "pve1"}])])
    assert arun(_call(make_client(pve, retries=3), "nodes")) == [{"node": "pve1"}]
    assert route.call_count == 3


def test_get_gives_up_after_the_retries_with_a_connection_error():
    pve = router()
    route = pve.get("/nodes").mock(side_effect=httpx.ConnectError("Connection refused"))
    with pytest.raises(ConnectionFailed) as caught:
        arun(_call(make_client(pve, retries=2), "nodes"))
    assert route.call_count == 3
    assert caught.value.exit_code == ExitCode.ERROR
    assert caught.value.message.startswith("Cannot connect to https://pve.test:8006")


@pytest.mark.parametrize("status", [500, 400, 401, 403, 404])
def test_get_is_not_retried_on_other_statuses(status):
    pve = router()
    route = pve.get("/nodes").mock(side_effect=[pve_error(status, "nope"), envelope([])])
    with pytest.raises(ApiError):
        arun(_call(make_client(pve, retries=3), "nodes"))
    assert route.call_count == 1


def test_read_timeout_is_not_retried_and_is_a_timeout():
    pve = router()
    route = pve.get("/nodes").mock(side_effect=[httpx.ReadTimeout("slow"), envelope([])])
    with pytest.raises(OperationTimeout) as caught:
        arun(_call(make_client(pve, retries=3), "nodes"))
    assert route.call_count == 1
    assert caught.value.exit_code == ExitCode.TIMEOUT


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "failure",
    [pve_error(503, "service unavailable"), pve_error(595, "no route to host"), httpx.ConnectError("reset")],
    ids=["503", "595", "connection-error"],
)
def test_writes_are_never_retried(method, failure):
    pve = router()
    route = pve.route(method=method, path="/nodes/pve1/qemu/101/status/start").mock(
        side_effect=[failure, envelope("UPID:pve1:...")]
    )
    with pytest.raises((ApiError, ConnectionFailed)):
        arun(_request(make_client(pve, retries=3), method, "/nodes/pve1/qemu/101/status/start"))
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "message", "errors", "error_class", "exit_code", "expected"),
    [
        (
            400,
            "Parameter verification failed.",
            {"memory": "value must have a minimum value of 16"},
            ApiError,
            ExitCode.ERROR,
            "memory: value must have a minimum value of 16",
        ),
        (401, "authentication failure", None, AuthError, ExitCode.AUTH, "Authentication failed"),
        (
            403,
            "Permission check failed (/vms/101, VM.PowerMgmt)",
            None,
            AuthError,
            ExitCode.AUTH,
            "Permission denied for POST /nodes/pve1/qemu/101/status/start: Permission check failed",
        ),
        (404, "Not Found", None, ApiNotFound, ExitCode.NOT_FOUND, "Not Found"),
        (
            500,
            "Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist",
            None,
            ApiNotFound,
            ExitCode.NOT_FOUND,
            "does not exist",
        ),
        (
            500,
            "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout",
            None,
            LockedError,
            ExitCode.CONFLICT,
            "can't lock file",
        ),
        (500, "unable to create VM 101 - storage full", None, ApiError, ExitCode.ERROR, "storage full"),
        # A path an older PVE does not have (PVE 8 and /cluster/ha/rules).
        (
            501,
            "Method 'POST /nodes/pve1/qemu/101/status/start' not implemented",
            None,
            ApiNotFound,
            ExitCode.NOT_FOUND,
            "not implemented",
        ),
        (501, "unsupported", None, ApiError, ExitCode.ERROR, "unsupported"),
        (595, "Connection refused", None, ApiError, ExitCode.ERROR, "Connection refused"),
    ],
    ids=["400-fields", "401", "403", "404", "500-missing", "500-lock", "500", "501-no-path", "501", "595"],
)
def test_error_mapping(status, message, errors, error_class, exit_code, expected):
    pve = router()
    pve.post("/nodes/pve1/qemu/101/status/start").mock(return_value=pve_error(status, message, errors))
    with pytest.raises(ApiError) as caught:
        arun(_request(make_client(pve, retries=0), "POST", "/nodes/pve1/qemu/101/status/start"))
    error = caught.value
    assert type(error) is error_class
    assert error.exit_code == exit_code
    assert error.status == status
    assert expected in error.message
    assert "\n" not in error.message and error.message.endswith(".")
    if errors:
        assert error.field_errors == errors
        assert error.to_dict()["error"]["details"] == {"status": status, "errors": errors}
    assert error.pve_message == message


@pytest.mark.parametrize(
    ("status", "message", "error_class", "lock"),
    [
        (500, "VM 101 is locked (backup)", LockedError, "backup"),
        (500, "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout", LockedError, None),
        (500, "detected modified configuration - file changed by other user? Try again.", ApiConflict, None),
    ],
    ids=["named-lock", "lock-timeout", "digest"],
)
def test_conflicts_carry_their_lock_from_the_constructor(status, message, error_class, lock):
    pve = router()
    pve.post("/nodes/pve1/qemu/101/config").mock(return_value=pve_error(status, message, None))
    with pytest.raises(ApiConflict) as caught:
        arun(_request(make_client(pve, retries=0), "POST", "/nodes/pve1/qemu/101/config"))
    error = caught.value
    assert type(error) is error_class
    assert error.exit_code == ExitCode.CONFLICT and error.kind == "conflict"
    assert error.pve_message == message
    if error_class is LockedError:
        assert error.lock == lock
    else:
        assert not hasattr(error, "lock")


def test_debug_trace_redacts_secrets_in_form_data():
    pve = router()
    pve.post("/nodes/pve1/lxc").mock(return_value=envelope("UPID:x"))
    lines: list[str] = []
    client = make_client(pve, tracer=lines.append)
    arun(
        _request(
            client, "POST", "/nodes/pve1/lxc", vmid=201, password="ct-root-pw", **{"ssh-public-keys": "k"}
        )
    )
    trace = "\n".join(lines)
    assert "POST https://pve.test:8006/api2/json/nodes/pve1/lxc" in trace
    assert "'vmid': 201" in trace
    assert "ct-root-pw" not in trace and "<redacted>" in trace


def test_concurrency_limit_bounds_requests_in_flight():
    import asyncio

    pve = router()
    in_flight = 0
    peak = 0

    limit_reached = asyncio.Event()

    async def slow(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= 3:
            limit_reached.set()
        # Hold the answers until three are in flight: without a limit, all twelve would be by then.
        await asyncio.wait_for(limit_reached.wait(), 10)
        in_flight -= 1
        return envelope({})

    pve.get(path__regex=r"/nodes/pve1/qemu/\d+/config").mock(side_effect=slow)

    async def go():
        async with make_client(pve, concurrency=3) as api:
            await asyncio.gather(*(api.guest_config("pve1", "qemu", 100 + i) for i in range(12)))

    arun(go())
    assert peak == 3


def test_a_transport_error_during_cancellation_is_a_cancellation_not_a_retry():
    """aiohttp may report a Ctrl-C (task cancel) as a timeout: pmpc must stop, not retry or report it."""
    import asyncio
    import sys

    if sys.version_info < (3, 11):
        pytest.skip("Task.cancelling() arrived in Python 3.11")
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        asyncio.current_task().cancel()  # type: ignore[union-attr]  # Ctrl-C arrives now ...
        raise httpx.ReadTimeout("timed out", request=request)  # ... and surfaces as a timeout

    async def scenario() -> None:
        pve = router()
        pve.get("/version").mock(side_effect=answer)
        async with make_client(pve) as api:
            request = asyncio.ensure_future(api.version())
            with pytest.raises(asyncio.CancelledError):
                await request
            assert request.cancelled()

    asyncio.run(scenario())
    assert calls == 1


def test_a_get_sent_ahead_goes_out_once_and_counts_when_a_get_takes_it():
    import asyncio

    pve = router()
    nodes = pve.get("/nodes").mock(return_value=envelope([{"node": "pve1"}]))
    guests = pve.get("/cluster/resources", params={"type": "vm"}).mock(return_value=envelope([{"vmid": 101}]))

    async def run() -> None:
        async with make_client(pve) as api:
            api.prefetch("/nodes")
            api.prefetch("/nodes")  # already on its way: not sent twice
            api.prefetch("/cluster/resources", type="vm")
            await asyncio.sleep(0.01)
            assert (nodes.call_count, guests.call_count, api.requests_sent) == (1, 1, 0)
            assert await api.nodes() == [{"node": "pve1"}]
            assert await api.cluster_resources("vm") == [{"vmid": 101}]
            assert (nodes.call_count, guests.call_count, api.requests_sent) == (1, 1, 2)
            assert await api.nodes() == [{"node": "pve1"}]  # taken once: the next GET is sent anew
            assert (nodes.call_count, api.requests_sent) == (2, 3)

    arun(run())


def test_a_get_sent_ahead_hands_its_error_to_its_taker_and_one_nobody_takes_is_cancelled_at_close():
    import asyncio

    pve = router()
    pve.get("/cluster/status").mock(return_value=pve_error(500, "cluster not ready - no quorum?"))
    started, cancelled = asyncio.Event(), []

    async def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(request.url.path)
            raise
        return envelope({})  # pragma: no cover

    pve.get("/version").mock(side_effect=slow)

    async def run() -> None:
        async with make_client(pve, retries=0) as api:
            api.prefetch("/cluster/status")
            api.prefetch("/version")
            with pytest.raises(ApiError, match="no quorum"):
                await api.cluster_status()
            await started.wait()
        assert cancelled == ["/api2/json/version"]

    arun(run())
