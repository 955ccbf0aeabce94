"""Which Ansible tests can run: community.proxmox ships inside the `ansible` package only from 11.x on."""

from __future__ import annotations

import sys

import pytest

# ansible 11+ (which bundles community.proxmox) needs Python 3.11; on 3.10 pip resolves ansible 10.x,
# which lacks the collection and cannot fetch it without a Galaxy server. On 3.11+ these tests must run.
needs_community_proxmox = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="the ansible release for Python 3.10 does not bundle community.proxmox",
)
