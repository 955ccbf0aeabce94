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


def bundled_community_proxmox() -> tuple[int, ...] | None:
    """Return the version of the community.proxmox collection that ships with the ansible package."""
    import json
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("ansible_collections")
    for location in (spec.submodule_search_locations or []) if spec else []:
        manifest = Path(location) / "community" / "proxmox" / "MANIFEST.json"
        if manifest.is_file():
            version = json.loads(manifest.read_text())["collection_info"]["version"]
            return tuple(int(p) for p in version.split(".")[:3] if p.isdigit())
    return None


def skip_unless_container_updates_work() -> None:
    """Skip where the bundled collection is 2.x: its container update sends `cmode: default`, which PVE refuses.

    The generated requirements.yml pins community.proxmox below 2.0 for that reason; tests cannot
    install it (no Galaxy server), so they run against the bundled collection when it is a 1.x.
    """
    version = bundled_community_proxmox()
    if version is not None and version >= (2,):
        pytest.skip(
            "the ansible package bundles community.proxmox "
            + ".".join(map(str, version))
            + ", whose container update PVE refuses; requirements.yml pins <2.0"
        )
