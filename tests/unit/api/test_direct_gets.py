"""GETs go straight to the GET lane (api/lane.py), and answer exactly as the httpx path does.

Every scenario runs twice against the same small HTTP server (aiohttp.web on loopback, real sockets):
through the client pmpc builds (GETs on its lane, writes on its transport's aiohttp session) and through
httpx over the same kind of aiohttp transport (the path writes take, and every GET took before). Data,
retries, auth flows and the typed errors must be the same.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from proxmox_mpc.api.auth import TicketAuth, TokenAuth
from proxmox_mpc.api.client import ProxmoxClient
from proxmox_mpc.errors import ApiError, AuthError, PmpcError

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]
PATHS = ["direct", "httpx"]


class Server:
    """Answers each path from a queue of handlers (the last one repeats) and records what it was sent."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Answer]] = {}
        self.seen: list[web.Request] = []
        self.peers: list[Any] = []  # the client's address of each request: one per connection

    def on(self, path: str, *answers: Answer) -> None:
        self.answers["/api2/json" + path] = list(answers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request)
        self.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        queue = self.answers.get(request.path)
        if not queue:
            return web.json_response({"data": None}, status=501)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return await answer(request)


def data(value: Any, *, compress: bool = False) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.json_response({"data": value})
        if compress:
            response.enable_compression()
        return response

    return answer


def error(status: int, message: str, errors: dict[str, str] | None = None) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        body = {"data": None, "message": message, **({"errors": errors} if errors else {})}
        return web.Response(status=status, reason=message, text=json.dumps(body), content_type="application/json")

    return answer


def slow(seconds: float) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({"data": "late"})

    return answer


def client(path: str, url: str, **kwargs: Any) -> ProxmoxClient:
    kwargs.setdefault("auth", TokenAuth("root@pam!ci", SecretStr("s3cret")))
    kwargs.setdefault("backoff", 0.0)
    if path == "httpx":
        from httpx_aiohttp import AiohttpTransport

        kwargs["transport"] = AiohttpTransport(trust_env=False)
    made = ProxmoxClient(base_url=url, **kwargs)
    assert (made._session is not None) == (path == "direct")
    return made


def run(path: str, setup: Callable[[Server], None], call: Callable[[ProxmoxClient], Awaitable[Any]],
        **kwargs: Any) -> tuple[Any, Server]:  # fmt: skip
    """Serve, run `call` on a client of `path`; return its result (or the PmpcError it raised) and the server."""

    async def main() -> Any:
        server = Server()
        setup(server)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", server.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with client(path, f"http://127.0.0.1:{port}", **kwargs) as api:
                try:
                    return await call(api), server
                except PmpcError as exc:
                    return exc, server
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def both(setup: Callable[[Server], None], call: Callable[[ProxmoxClient], Awaitable[Any]], **kwargs: Any) -> Any:
    """Run on both paths; return the direct path's (result, server) after checking the results agree."""
    direct, server = run("direct", setup, call, **kwargs)
    other, _ = run("httpx", setup, call, **kwargs)
    assert _facts(direct) == _facts(other)
    return direct, server


def _facts(result: Any) -> Any:
    if isinstance(result, PmpcError):  # each run has its own server port
        text = re.sub(r"127\.0\.0\.1:\d+", "SERVER", str(result))
        return type(result), text, int(result.exit_code), getattr(result, "status", None)
    return result


def test_data_and_query_are_the_same_and_the_token_is_sent():
    result, server = both(lambda s: s.on("/cluster/resources", data([{"vmid": 101}])),
                          lambda api: api.cluster_resources("vm"))  # fmt: skip
    assert result == [{"vmid": 101}]
    request = server.seen[-1]
    assert request.query["type"] == "vm"
    assert request.headers["Authorization"] == "PVEAPIToken=root@pam!ci=s3cret"
    assert request.headers["Accept"] == "application/json" and request.headers["User-Agent"] == "pmpc"


def test_a_compressed_answer_is_decoded_once():
    big = [{"vmid": n, "name": f"guest-{n}"} for n in range(500)]
    result, _ = both(lambda s: s.on("/nodes", data(big, compress=True)), lambda api: api.nodes())
    assert result == big


@pytest.mark.parametrize(
    ("status", "message", "errors"),
    [
        (400, "Parameter verification failed.", {"vmid": "invalid format"}),
        (401, "authentication failure", None),
        (403, "Permission check failed (/vms/101, VM.Audit)", None),
        (404, "Not Found", None),
        (500, "Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist", None),
        (500, "VM 101 is locked (backup)", None),
        (595, "Connection refused", None),
    ],
    ids=["400-fields", "401", "403", "404", "500-missing", "500-locked", "595-after-retries"],
)
def test_errors_are_the_same_typed_errors(status, message, errors):
    result, server = both(lambda s: s.on("/nodes/pve1/qemu/101/config", error(status, message, errors)),
                          lambda api: api.guest_config("pve1", "qemu", 101), retries=2)  # fmt: skip
    assert isinstance(result, ApiError) and result.status == status
    if errors:
        assert result.field_errors == errors
    assert len(server.seen) == (3 if status == 595 else 1)  # only gateway statuses are retried


def test_a_gateway_status_is_retried_then_answers():
    result, server = both(lambda s: s.on("/nodes", error(502, "Bad Gateway"), data([{"node": "pve1"}])),
                          lambda api: api.nodes())  # fmt: skip
    assert result == [{"node": "pve1"}] and len(server.seen) == 2


def test_a_read_timeout_is_a_timeout_and_not_retried():
    result, server = both(lambda s: s.on("/version", slow(2.0)), lambda api: api.version(), timeout=0.3)
    assert isinstance(result, PmpcError) and int(result.exit_code) == 8
    assert len(server.seen) == 1


def test_a_refused_connection_is_the_same_error_after_the_retries():
    async def closed_port(api: ProxmoxClient) -> Any:
        return await api.nodes()

    def refused(path: str) -> Any:
        async def main() -> Any:
            import socket

            with socket.socket() as sock:  # a port nothing listens on
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            async with client(path, f"http://127.0.0.1:{port}", retries=1) as api:
                try:
                    return await closed_port(api)
                except PmpcError as exc:
                    return exc

        return asyncio.run(main())

    direct, other = refused("direct"), refused("httpx")
    assert _facts(direct) == _facts(other)
    assert "connection refused" in str(direct)


def test_a_ticket_login_and_its_renewal_run_through_the_same_auth_flow():
    logins: list[str] = []

    async def login(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        logins.append(str(form["password"]))
        return web.json_response({"data": {"ticket": f"T{len(logins)}", "CSRFPreventionToken": "C"}})

    def setup(server: Server) -> None:
        server.on("/access/ticket", login)
        # The first ticket is refused once (a restarted node): the flow logs in again and resends.
        server.on("/nodes", error(401, "invalid ticket"), data([{"node": "pve1"}]))

    for path in PATHS:
        logins.clear()
        auth = TicketAuth("root@pam", SecretStr("pw"))
        result, server = run(path, setup, lambda api: api.nodes(), auth=auth)
        assert result == [{"node": "pve1"}], path
        assert logins == ["pw", "pw"] and auth.logins == 2, path
        cookies = [r.headers.get("Cookie") for r in server.seen if r.path.endswith("/nodes")]
        assert cookies == ["PVEAuthCookie=T1", "PVEAuthCookie=T2"], path
        assert all("CSRFPreventionToken" not in r.headers for r in server.seen if r.method == "GET"), path


def test_gets_keep_their_connection_alive_around_a_write():
    """GETs take the lane's keep-alive connection (api/lane.py), a write aiohttp's session."""
    async def post(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        return web.json_response({"data": dict(form)})

    def setup(server: Server) -> None:
        server.on("/pools", post)
        server.on("/nodes", data([]))

    async def call(api: ProxmoxClient) -> Any:
        return [await api.nodes(), await api.post("/pools", poolid="lab"), await api.nodes()]

    result, server = run("direct", setup, call)
    assert result == [[], {"poolid": "lab"}, []]
    assert [r.method for r in server.seen] == ["GET", "POST", "GET"]
    assert server.peers[0] == server.peers[2] and None not in server.peers


def test_a_large_answer_over_tls_arrives_whole_through_the_small_tls_read_buffer(tmp_path, monkeypatch):
    """A command that only reads (its GETs on the lane, no aiohttp session made) gets the small buffer too."""
    import ssl
    from asyncio import sslproto

    from fakepve.certs import make_cert

    from proxmox_mpc.api.client import TLS_READ_BUFFER

    monkeypatch.setattr(sslproto.SSLProtocol, "max_size", 256 * 1024)  # asyncio's, whatever ran before

    ca, key, _ = make_cert(str(tmp_path), hosts=("127.0.0.1",))
    big = [{"vmid": n, "name": f"guest-{n}", "tags": "web;prod"} for n in range(20_000)]  # about 1 MB

    async def main() -> Any:
        server = Server()
        server.on("/cluster/resources", data(big))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", server.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(ca, key)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        try:
            url = f"https://127.0.0.1:{runner.addresses[0][1]}"
            async with ProxmoxClient(base_url=url, auth=None, verify=ca) as api:
                return await api.cluster_resources("vm")
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == big
    assert sslproto.SSLProtocol.max_size == TLS_READ_BUFFER < len(json.dumps(big))


def test_a_signed_get_builds_no_httpx_request_or_response(monkeypatch):
    """With a token (or a fresh ticket) a GET is a URL string, a header dict and aiohttp's answer."""
    import httpx

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the lean GET path built an httpx object")

    def setup(server: Server) -> None:
        server.on("/nodes/pve1/tasks", data([{"upid": "UPID:1"}]))

    async def call(api: ProxmoxClient) -> Any:
        monkeypatch.setattr(httpx, "Request", refuse)
        monkeypatch.setattr(httpx, "Response", refuse)
        try:
            return await api.tasks("pve1", limit=5, errors=True, typefilter="vz dump", vmid=None)
        finally:
            monkeypatch.undo()

    result, server = run("direct", setup, call)
    assert result == [{"upid": "UPID:1"}]
    request = server.seen[-1]
    assert dict(request.query) == {"limit": "5", "errors": "1", "typefilter": "vz dump"}
    assert request.headers["Authorization"] == "PVEAPIToken=root@pam!ci=s3cret"


def test_the_query_reaches_the_server_as_httpx_sends_it():
    params = {"typefilter": "a b/c:+&é=,;@", "since": 5, "errors": True}
    sent = {}
    for path in PATHS:
        _, server = run(path, lambda s: s.on("/nodes/pve1/tasks", data([])), lambda api: api.tasks("pve1", **params))
        sent[path] = server.seen[-1]
    # httpx leaves some reserved characters of a query value unescaped (/ : , @); the lane sends the query as
    # urlencode made it. The server reads the same values from both.
    assert sent["direct"].raw_path.endswith("?typefilter=a+b%2Fc%3A%2B%26%C3%A9%3D%2C%3B%40&since=5&errors=1")
    for request in sent.values():
        assert dict(request.query) == {"typefilter": "a b/c:+&é=,;@", "since": "5", "errors": "1"}


def _logins(logins: list[str]) -> Answer:
    async def login(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        logins.append(str(form["password"]))
        return web.json_response({"data": {"ticket": f"T{len(logins)}", "CSRFPreventionToken": "C"}})

    return login


def test_a_ticket_refused_again_after_the_new_login_is_an_auth_error_after_one_relogin():
    """A 401 gets one fresh login and one resend (PVE wants a login, not a renewal); a second 401 is the answer."""
    logins: list[str] = []

    def setup(server: Server) -> None:
        server.on("/access/ticket", _logins(logins))
        server.on("/nodes", error(401, "permission denied - invalid PVE ticket"))

    for path in PATHS:
        logins.clear()
        auth = TicketAuth("root@pam", SecretStr("pw"))
        result, server = run(path, setup, lambda api: api.nodes(), auth=auth)
        assert isinstance(result, AuthError) and result.status == 401, path
        assert "pw" not in str(result)
        assert logins == ["pw", "pw"], path
        cookies = [r.headers.get("Cookie") for r in server.seen if r.path.endswith("/nodes")]
        assert cookies == ["PVEAuthCookie=T1", "PVEAuthCookie=T2"], path


def test_a_ticket_refused_to_concurrent_gets_is_renewed_once():
    logins: list[str] = []
    refused = 0
    all_in_flight = asyncio.Event()

    async def nodes(request: web.Request) -> web.StreamResponse:
        nonlocal refused
        if request.headers.get("Cookie") == "PVEAuthCookie=T1":
            refused += 1
            if refused == 8:
                all_in_flight.set()
            await asyncio.wait_for(all_in_flight.wait(), 10)  # hold the refusals until all eight are in flight
            return await error(401, "invalid ticket")(request)
        return web.json_response({"data": [{"node": "pve1"}]})

    def setup(server: Server) -> None:
        server.on("/access/ticket", _logins(logins))
        server.on("/nodes", nodes)

    async def call(api: ProxmoxClient) -> Any:
        return await asyncio.gather(*(api.nodes() for _ in range(8)))

    auth = TicketAuth("root@pam", SecretStr("pw"))
    result, server = run("direct", setup, call, auth=auth, concurrency=8)
    assert result == [[{"node": "pve1"}]] * 8
    assert logins == ["pw", "pw"] and auth.logins == 2  # the first login, one renewal: not eight
    cookies = [r.headers.get("Cookie") for r in server.seen if r.path.endswith("/nodes")]
    assert cookies.count("PVEAuthCookie=T1") == 8 and cookies.count("PVEAuthCookie=T2") == 8


def test_a_fresh_cached_ticket_signs_gets_without_a_login(tmp_path):
    from proxmox_mpc.api.auth import TicketCache

    cache = TicketCache(tmp_path, "key", lambda path, text: (path.parent.mkdir(exist_ok=True), path.write_text(text)))
    cache.save({"user": "root@pam", "ticket": "CACHED", "csrf": "C", "issued_at": __import__("time").time()})
    logins: list[str] = []

    def setup(server: Server) -> None:
        server.on("/access/ticket", _logins(logins))
        server.on("/nodes", data([]))

    auth = TicketAuth("root@pam", SecretStr("pw"), cache=cache)
    result, server = run("direct", setup, lambda api: api.nodes(), auth=auth)
    assert result == [] and logins == []
    assert server.seen[-1].headers["Cookie"] == "PVEAuthCookie=CACHED"
    assert "CSRFPreventionToken" not in server.seen[-1].headers


@pytest.mark.parametrize(
    "answer",
    [
        lambda request: web.Response(status=500, reason="", text="first line\nsecond", content_type="text/plain"),
        lambda request: web.Response(status=200, text="not json", content_type="text/plain"),
        lambda request: web.Response(status=400, reason="Bad Request", text="{}", content_type="application/json"),
    ],
    ids=["no-message-no-reason", "a-success-that-is-not-json", "only-a-reason"],
)
def test_answers_without_a_pve_message_map_to_the_same_errors(answer):
    async def serve(request: web.Request) -> web.StreamResponse:
        return answer(request)

    result, server = both(lambda s: s.on("/nodes", serve), lambda api: api.nodes())
    assert isinstance(result, ApiError) and len(server.seen) == 1


def test_the_debug_trace_is_the_same_on_both_paths_and_redacts_secrets():
    traces: dict[str, list[str]] = {}

    def setup(server: Server) -> None:
        server.on("/nodes/pve1/tasks", data([]))
        server.on("/nodes", error(502, "Bad Gateway"), data([]))
        server.on("/version", error(403, "Permission check failed"))

    async def call(api: ProxmoxClient) -> Any:
        await api.tasks("pve1", limit=5, password="hunter2")
        await api.nodes()
        try:
            await api.version()
        except ApiError:
            pass

    for path in PATHS:
        lines: list[str] = []
        run(path, setup, call, tracer=lines.append)
        traces[path] = [re.sub(r"127\.0\.0\.1:\d+", "SERVER", line) for line in lines]
    assert traces["direct"] == traces["httpx"]
    trace = "\n".join(traces["direct"])
    assert "hunter2" not in trace and "s3cret" not in trace and "<redacted>" in trace
    assert "< 502 Bad Gateway (GET /nodes)" in trace and "< 403 Permission check failed (GET /version)" in trace


def test_a_ticket_past_its_renewal_time_logs_in_again_before_the_get():
    from proxmox_mpc.api.auth import RENEW_AFTER

    logins: list[str] = []
    now = [1000.0]

    def setup(server: Server) -> None:
        server.on("/access/ticket", _logins(logins))
        server.on("/nodes", data([]))

    async def call(api: ProxmoxClient) -> Any:
        await api.nodes()
        now[0] += RENEW_AFTER + 1  # the ticket is stale now: the next GET logs in first
        return await api.nodes()

    for path in PATHS:
        logins.clear()
        now[0] = 1000.0
        auth = TicketAuth("root@pam", SecretStr("pw"), clock=lambda: now[0])
        result, server = run(path, setup, call, auth=auth)
        assert result == [] and logins == ["pw", "pw"], path
        cookies = [r.headers.get("Cookie") for r in server.seen if r.path.endswith("/nodes")]
        assert cookies == ["PVEAuthCookie=T1", "PVEAuthCookie=T2"], path


@pytest.mark.parametrize(
    ("status", "message"),
    [(500, "QEMU guest agent is not running"), (404, "Not Found"), (403, "Permission check failed"), (595, "No route")],
    ids=["500", "404", "403", "595-after-retries"],
)
def test_a_get_unless_refused_answers_refused_for_an_error_answer_on_both_paths(status, message):
    result, server = both(lambda s: s.on("/nodes/pve1/qemu/101/agent/x", error(status, message)),
                          lambda api: _refused_or(api, "/nodes/pve1/qemu/101/agent/x"), retries=2)  # fmt: skip
    assert result == "refused"
    assert len(server.seen) == (3 if status == 595 else 1)  # gateway statuses are still retried


def test_a_get_unless_refused_returns_the_data_and_raises_on_a_transport_failure():
    result, _ = both(lambda s: s.on("/nodes", error(502, "Bad Gateway"), data([{"node": "pve1"}])),
                     lambda api: _refused_or(api, "/nodes"))  # fmt: skip
    assert result == [{"node": "pve1"}]
    late, _ = both(lambda s: s.on("/version", slow(2.0)), lambda api: _refused_or(api, "/version"), timeout=0.3)
    assert isinstance(late, PmpcError) and int(late.exit_code) == 8


async def _refused_or(api: ProxmoxClient, path: str) -> Any:
    body = await api.get_unless_refused(path)
    return "refused" if body is api.REFUSED else body
