"""Token header, ticket login with CSRF on writes, renewal before expiry, re-login on 401."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr
from tests.unit.api.helpers import arun, envelope, make_client, pve_error, router

from proxmox_mpc.api.auth import RENEW_AFTER, TicketAuth, TokenAuth
from proxmox_mpc.errors import AuthError, ExitCode

TOKEN_ID = "pmpc@pve!cli"
SECRET = "0f4e2a86-6c1b-4d8e-9a57-3c2b1d0e9f8a"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def login_answers() -> list[httpx.Response]:
    return [
        envelope(
            {
                "ticket": f"PVE:root@pam:{i:08X}::sig",
                "CSRFPreventionToken": f"csrf-{i}",
                "username": "root@pam",
            }
        )
        for i in range(1, 6)
    ]


def test_token_auth_sends_pveapitoken_header_and_no_cookie():
    pve = router()
    nodes = pve.get("/nodes").mock(return_value=envelope([{"node": "pve1"}]))
    created = pve.post("/pools").mock(return_value=envelope(None))

    async def go():
        async with make_client(pve, TokenAuth(TOKEN_ID, SecretStr(SECRET))) as api:
            assert await api.nodes() == [{"node": "pve1"}]
            await api.post("/pools", poolid="prod")

    arun(go())
    for route in (nodes, created):
        request = route.calls.last.request
        assert request.headers["Authorization"] == f"PVEAPIToken={TOKEN_ID}={SECRET}"
        assert "Cookie" not in request.headers
        assert "CSRFPreventionToken" not in request.headers


def test_ticket_login_then_cookie_on_reads_and_csrf_on_writes_only():
    pve = router()
    login = pve.post("/access/ticket").mock(side_effect=login_answers())
    nodes = pve.get("/nodes").mock(return_value=envelope([]))
    pools = pve.post("/pools").mock(return_value=envelope(None))
    auth = TicketAuth("root@pam", SecretStr("hunter2"), clock=Clock())

    async def go():
        async with make_client(pve, auth) as api:
            await api.nodes()
            await api.post("/pools", poolid="prod")

    arun(go())
    assert login.call_count == 1
    form = login.calls.last.request.content.decode()
    assert "username=root%40pam" in form and "password=hunter2" in form
    read, write = nodes.calls.last.request, pools.calls.last.request
    assert read.headers["Cookie"] == "PVEAuthCookie=PVE:root@pam:00000001::sig"
    assert "CSRFPreventionToken" not in read.headers
    assert write.headers["Cookie"] == "PVEAuthCookie=PVE:root@pam:00000001::sig"
    assert write.headers["CSRFPreventionToken"] == "csrf-1"


def test_user_without_realm_logs_in_as_pam():
    pve = router()
    login = pve.post("/access/ticket").mock(side_effect=login_answers())
    pve.get("/version").mock(return_value=envelope({"version": "9.0"}))
    arun(_call(make_client(pve, TicketAuth("root", SecretStr("pw"), clock=Clock())), "version"))
    assert "username=root%40pam" in login.calls.last.request.content.decode()


async def _call(client, method, *args):
    async with client as api:
        return await getattr(api, method)(*args)


def test_ticket_is_renewed_before_the_two_hour_expiry():
    pve = router()
    login = pve.post("/access/ticket").mock(side_effect=login_answers())
    nodes = pve.get("/nodes").mock(return_value=envelope([]))
    clock = Clock()
    auth = TicketAuth("root@pam", SecretStr("pw"), clock=clock)

    async def go():
        async with make_client(pve, auth) as api:
            await api.nodes()
            clock.now += RENEW_AFTER - 60  # still fresh: no new login
            await api.nodes()
            clock.now += 120  # past the renewal point, still before PVE's 7200 s expiry
            await api.nodes()

    arun(go())
    assert RENEW_AFTER < 7200
    assert login.call_count == 2
    cookies = [c.request.headers["Cookie"] for c in nodes.calls]
    assert cookies == [
        "PVEAuthCookie=PVE:root@pam:00000001::sig",
        "PVEAuthCookie=PVE:root@pam:00000001::sig",
        "PVEAuthCookie=PVE:root@pam:00000002::sig",
    ]


def test_a_401_logs_in_again_and_repeats_the_request_once():
    pve = router()
    login = pve.post("/access/ticket").mock(side_effect=login_answers())
    nodes = pve.get("/nodes").mock(
        side_effect=[pve_error(401, "permission denied - invalid PVE ticket"), envelope([{"node": "pve1"}])]
    )
    auth = TicketAuth("root@pam", SecretStr("pw"), clock=Clock())
    result = arun(_call(make_client(pve, auth), "nodes"))
    assert result == [{"node": "pve1"}]
    assert login.call_count == 2
    assert nodes.calls.last.request.headers["Cookie"] == "PVEAuthCookie=PVE:root@pam:00000002::sig"


def test_wrong_password_is_an_auth_error_naming_the_user_not_the_password():
    pve = router()
    pve.post("/access/ticket").mock(return_value=pve_error(401, "authentication failure"))
    nodes = pve.get("/nodes").mock(return_value=envelope([]))
    auth = TicketAuth("root@pam", SecretStr("wrong-password"), clock=Clock())
    with pytest.raises(AuthError) as caught:
        arun(_call(make_client(pve, auth), "nodes"))
    assert caught.value.exit_code == ExitCode.AUTH
    assert "root@pam" in caught.value.message
    assert "wrong-password" not in caught.value.message
    assert nodes.call_count == 0


def test_a_user_with_a_second_factor_is_told_to_use_a_token():
    pve = router()
    pve.post("/access/ticket").mock(
        return_value=envelope({"ticket": "PVE:!tfa!x", "CSRFPreventionToken": "c", "NeedTFA": 1})
    )
    with pytest.raises(AuthError, match="API token"):
        arun(_call(make_client(pve, TicketAuth("ops@pve", SecretStr("pw"), clock=Clock())), "nodes"))


def test_concurrent_requests_share_one_login():
    import asyncio

    pve = router()
    login = pve.post("/access/ticket").mock(side_effect=login_answers())
    nodes = pve.get("/nodes").mock(return_value=envelope([]))
    auth = TicketAuth("root@pam", SecretStr("pw"), clock=Clock())

    async def go():
        async with make_client(pve, auth, concurrency=16) as api:
            await asyncio.gather(*(api.nodes() for _ in range(16)))

    arun(go())
    assert login.call_count == 1
    assert nodes.call_count == 16
    assert {c.request.headers["Cookie"] for c in nodes.calls} == {"PVEAuthCookie=PVE:root@pam:00000001::sig"}


def test_a_revoked_ticket_seen_by_concurrent_requests_is_renewed_once():
    import asyncio

    pve = router()
    login = pve.post("/access/ticket").mock(side_effect=login_answers())
    revoked = "PVEAuthCookie=PVE:root@pam:00000001::sig"

    refused = 0
    all_in_flight = asyncio.Event()

    async def answer(request):
        nonlocal refused
        if request.headers["Cookie"] == revoked:
            refused += 1
            if refused == 8:
                all_in_flight.set()
            # Hold the refusals until all eight are in flight with the revoked ticket.
            await asyncio.wait_for(all_in_flight.wait(), 10)
            return pve_error(401, "permission denied - invalid PVE ticket")
        return envelope([])

    nodes = pve.get("/nodes").mock(side_effect=answer)
    auth = TicketAuth("root@pam", SecretStr("pw"), clock=Clock())

    async def go():
        async with make_client(pve, auth, concurrency=8) as api:
            await asyncio.gather(*(api.nodes() for _ in range(8)))

    arun(go())
    # One login for the first ticket, one renewal for all eight refusals: not eight.
    assert login.call_count == 2
    assert nodes.call_count == 16  # eight refused, eight repeated with the new ticket
