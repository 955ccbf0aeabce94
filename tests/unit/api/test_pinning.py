"""Certificate pinning over real TLS (fakepve): the pinned fingerprint is accepted, another is refused.

Both ways pmpc's client talks: GETs on its GET lane (signed by a token), and a ticket login, a POST that
goes through httpx on aiohttp (the session made on first use, the pin made aiohttp's Fingerprint).
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from tests.helpers.cluster import PASSWORD, TOKEN_ID, TOKEN_SECRET
from tests.unit.api.helpers import arun, fingerprint_of

from proxmox_mpc.api.auth import TicketAuth, TokenAuth
from proxmox_mpc.api.client import ProxmoxClient
from proxmox_mpc.errors import ConnectionFailed, ExitCode
from proxmox_mpc.services.config_ops import fetch_fingerprint

WRONG = ":".join(["AB"] * 32)


async def _version(url: str, login: bool = False, **kwargs) -> dict:
    auth = TicketAuth("root@pam", SecretStr(PASSWORD)) if login else TokenAuth(TOKEN_ID, SecretStr(TOKEN_SECRET))
    client = ProxmoxClient(base_url=url, auth=auth, retries=0, **kwargs)
    async with client as api:
        return await api.version()


@pytest.fixture
def pve(fakepve):
    fakepve.apitokens[TOKEN_ID] = TOKEN_SECRET
    return fakepve


@pytest.mark.parametrize("login", [False, True], ids=["GET lane", "login on aiohttp"])
def test_pinned_fingerprint_is_accepted_without_a_ca(pve, fakepve_cafile, login):
    version = arun(_version(pve.url, login, fingerprint=fingerprint_of(fakepve_cafile)))
    assert version["version"] == pve.version
    if login:
        assert pve.requests[0][:2] == ("POST", "/api2/json/access/ticket")


@pytest.mark.parametrize("login", [False, True], ids=["GET lane", "login on aiohttp"])
def test_other_fingerprint_is_refused_showing_both(pve, fakepve_cafile, login):
    with pytest.raises(ConnectionFailed) as caught:
        arun(_version(pve.url, login, fingerprint=WRONG))
    error = caught.value
    assert error.exit_code == ExitCode.ERROR
    assert "does not match the pinned fingerprint" in error.message
    assert f"expected {WRONG}" in error.message
    assert f"got {fingerprint_of(fakepve_cafile)}" in error.message
    assert pve.requests == []


def test_unknown_ca_is_refused_and_ca_file_is_accepted(pve, fakepve_cafile):
    with pytest.raises(ConnectionFailed, match=r"TLS verification of .* failed"):
        arun(_version(pve.url))
    assert arun(_version(pve.url, verify=fakepve_cafile))["version"] == pve.version


def test_fetch_fingerprint_matches_the_served_certificate(pve, fakepve_cafile):
    assert arun(fetch_fingerprint(pve.host, pve.port)) == fingerprint_of(fakepve_cafile)
