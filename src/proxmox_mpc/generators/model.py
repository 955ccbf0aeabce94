"""What generators render from: one GuestSpec per guest, from a manifest plus the facts known about it."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field

from proxmox_mpc.core.manifest import AnyManifest, CtManifest, VmManifest
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.pveconfig import parse_size
from proxmox_mpc.errors import ManifestError
from proxmox_mpc.generators.common import safe_name
from proxmox_mpc.kinds.base import GUEST_PREFIXES, ResourceKind, ResourceManifest

GIB = 1024**3
DEFAULT_PROVIDER_VERSION = "0.111.1"
FRAMEWORKS = ("pytest", "terratest", "jest")


class Disk(Model):
    """A VM disk, or a container's root disk or mount point."""

    slot: str
    storage: str | None = None
    size: str | None = None  # PVE's spelling: 32G
    path: str | None = None  # containers: the mount point
    source: str | None = None  # containers: a bind-mounted host path

    @property
    def size_gb(self) -> int | None:
        """Return the size in whole GiB, rounded up (what the bpg provider and the modules take)."""
        if self.size is None:
            return None
        return max(1, math.ceil(parse_size(self.size) / GIB))


class Nic(Model):
    """A network device: QEMU (model) or LXC (name, ip)."""

    slot: str
    bridge: str | None = None
    model: str | None = None
    name: str | None = None
    vlan: int | None = None
    mac: str | None = None
    firewall: bool = False
    ip: str | None = None  # LXC: dhcp or CIDR
    gateway: str | None = None


class CloudInit(Model):
    """Cloud-init settings of a VM (no password: generated files never hold secrets)."""

    user: str | None = None
    ssh_keys: list[str] = Field(default_factory=list)
    ip: str | None = None
    gateway: str | None = None
    nameserver: str | None = None
    searchdomain: str | None = None
    storage: str | None = None
    drive: str = "ide2"


class GuestSpec(Model):
    """One guest as every generator sees it: desired settings plus the facts known about it."""

    kind: Literal["vm", "ct"]
    name: str
    node: str
    vmid: int | None = None
    cores: int | None = None
    sockets: int | None = None
    cpu_type: str | None = None
    memory: int | None = None  # MiB
    swap: int | None = None  # MiB, containers
    disks: list[Disk] = Field(default_factory=list)
    networks: list[Nic] = Field(default_factory=list)
    cloud_init: CloudInit | None = None
    ssh_keys: list[str] = Field(default_factory=list)  # containers
    tags: list[str] = Field(default_factory=list)
    tags_managed: bool = True  # False: the manifest leaves tags alone
    pool: str | None = None
    state: Literal["running", "stopped"] | None = None
    template: bool = False
    clone_from: str | None = None
    clone_full: bool = True
    clone_storage: str | None = None
    onboot: bool | None = None
    agent: bool | None = None
    ostype: str | None = None
    ostemplate: str | None = None
    unprivileged: bool | None = None
    description: str | None = None
    protection: bool | None = None
    scsihw: str | None = None
    bios: str | None = None
    machine: str | None = None
    hookscript: str | None = None
    # Proxmox keys of the manifest's `config:` that no generator expresses (listed in comments).
    unmapped: list[str] = Field(default_factory=list)
    # Facts: the guest exists in the cluster (Terraform imports it), and its address where known.
    exists: bool = False
    current_node: str | None = None  # where an existing guest runs now (its import id uses it)
    current_status: str | None = None  # its power state now: running, stopped, ...
    address: str | None = None

    @property
    def import_id(self) -> str:
        """Return the bpg provider's import id: `node/vmid`."""
        return f"{self.current_node or self.node}/{self.vmid}"

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.vmid}" if self.vmid is not None else f"{self.kind}/{self.name}"

    @property
    def rootfs(self) -> Disk | None:
        return next((d for d in self.disks if d.slot == "rootfs"), None)

    @property
    def mounts(self) -> list[Disk]:
        return [d for d in self.disks if d.slot != "rootfs"] if self.kind == "ct" else []


class Cluster(Model):
    """What generators know about the cluster itself (never a credential)."""

    endpoint: str | None = None  # https://host:port/
    host: str | None = None
    port: int = 8006
    token_user: str | None = None  # user@realm, from the token id
    token_name: str | None = None
    verify_tls: bool = True
    nodes: list[str] = Field(default_factory=list)


class ResourceSpec(Model):
    """A resource of a non-guest kind (a pool, ...) as the generators spell it, from its kind's mapping."""

    kind: str  # the address prefix: pool
    id: str
    folder: str  # the kind's folder: pools (Terraform writes pools.tf)
    terraform_type: str
    terraform_attrs: list[tuple[str, Any]] = Field(default_factory=list)
    # The id `terraform import` takes, when the resource exists and the provider documents import.
    import_id: str | None = None
    # The resource exists, but the provider documents no import for its type: say so instead.
    unimportable: bool = False
    ansible_module: str
    ansible_args: list[tuple[str, Any]] = Field(default_factory=list)
    # Further tasks of the same module, after the first: (what the task makes sure, arguments).
    ansible_more: list[tuple[str, list[tuple[str, Any]]]] = Field(default_factory=list)
    # The resource exists (an API write updates it rather than creating it).
    exists: bool = False
    # The addresses it references (`pool/prod`, `vm/101`, `guest/101`, `ha/vm:101`, a user's `group/ops`):
    # Terraform makes them first (`depends_on`), Ansible provisions what names guests after them.
    references: list[str] = Field(default_factory=list)
    # Manifest fields the Terraform resource cannot express (listed in a comment).
    unmapped: list[str] = Field(default_factory=list)

    @property
    def ref(self) -> str:
        """Return `pool/prod`."""
        return f"{self.kind}/{self.id}"


class GenerateInputs(Model):
    """Everything one `pmpc generate` run renders from; `sorted()` makes the order deterministic."""

    cluster: Cluster = Field(default_factory=Cluster)
    guests: list[GuestSpec] = Field(default_factory=list)
    # The other kinds' resources, made before the guests that reference them (a guest's pool).
    resources: list[ResourceSpec] = Field(default_factory=list)
    provider_version: str = DEFAULT_PROVIDER_VERSION
    # Where the generated Terraform is, relative to the tests' output directory (for Terratest).
    terraform_dir: str = "../../terraform"
    frameworks: list[str] = Field(default_factory=lambda: list(FRAMEWORKS))

    def sorted(self) -> GenerateInputs:
        """Return a copy with guests ordered by (kind, vmid, name) and every list inside sorted."""
        guests = sorted(
            self.guests, key=lambda g: (g.kind, g.vmid if g.vmid is not None else 1 << 40, g.name)
        )
        fixed = [_sorted_lists(g) for g in guests]
        cluster = self.cluster.model_copy(update={"nodes": sorted(set(self.cluster.nodes))})
        frameworks = [f for f in FRAMEWORKS if f in self.frameworks]
        # In the registry's order, which puts what is referenced first (a group before the user in it).
        from proxmox_mpc.kinds.registry import kinds

        rank = {k.prefix: index for index, k in enumerate(kinds())}
        resources = sorted(self.resources, key=lambda r: (rank.get(r.kind, len(rank)), r.kind, r.id))
        return self.model_copy(
            update={"guests": fixed, "cluster": cluster, "frameworks": frameworks, "resources": resources}
        )

    def find(self, source: str | None) -> GuestSpec | None:
        """Return the guest a clone source names (by name, or by VMID as text)."""
        if source is None:
            return None
        for guest in self.guests:
            if guest.name == source or (guest.vmid is not None and str(guest.vmid) == source):
                return guest
        return None


def _sorted_lists(guest: GuestSpec) -> GuestSpec:
    """Return a guest with its tags and unmapped keys sorted and unique, its devices in slot order (a copy)."""
    update: dict[str, Any] = {}
    for field, items in (("tags", guest.tags), ("unmapped", guest.unmapped)):
        ordered = sorted(set(items))
        if ordered != items:
            update[field] = ordered
    for field, devices in (("disks", guest.disks), ("networks", guest.networks)):
        if len(devices) > 1:
            update[field] = sorted(devices, key=lambda d: slot_key(d.slot))
    # Lists already in order are shared with the original (nothing changes them in place); a guest whose
    # lists are all in order is itself shared.
    return guest.model_copy(update=update) if update else guest


def resource_spec(
    kind: ResourceKind, manifest: ResourceManifest, *, exists: bool, nodes: Mapping[str, str] | None = None
) -> ResourceSpec:
    """Return a resource manifest as the generators spell it, through its kind's mapping.

    `nodes`: the node of each guest by VMID address (`vm/101`), for a resource that lives with a guest.
    """
    mapping = kind.terraform
    attrs = [*kind.placement(manifest, nodes or {}), *kind.terraform_attrs(manifest)]
    return ResourceSpec(
        kind=kind.prefix,
        id=manifest.name,
        folder=kind.folder,
        terraform_type=kind.terraform_type(manifest),
        terraform_attrs=[(k, v) for k, v in attrs if v is not None],
        import_id=kind.import_id(manifest) if exists and mapping.importable else None,
        unimportable=exists and not mapping.importable,
        ansible_module=kind.ansible_module(manifest),
        ansible_args=[(k, v) for k, v in kind.ansible_args(manifest) if v is not None],
        ansible_more=[
            (what, [(k, v) for k, v in args if v is not None]) for what, args in kind.ansible_more(manifest)
        ],
        exists=exists,
        references=[ref.address for ref in kind.references(manifest)],
        unmapped=kind.terraform_unmapped(manifest),
    )


def after_guests(resources: list[ResourceSpec]) -> list[ResourceSpec]:
    """Return the resources that name guests, directly or through another resource, each after what it names.

    The generators make them after the guests (an HA resource needs its VM), and the others before.
    """
    by_ref = {r.ref: r for r in resources}
    later: list[ResourceSpec] = []
    grew = True
    while grew:
        grew = False
        for spec in resources:
            if spec in later:
                continue
            names = [a.split("/", 1)[0] in GUEST_PREFIXES or by_ref.get(a) in later for a in spec.references]
            if any(names) and all(by_ref.get(a) in later for a in spec.references if a in by_ref):
                later.append(spec)
                grew = True
    return later


def slot_key(slot: str) -> tuple[str, int]:
    """Order device slots naturally: scsi2 before scsi10, rootfs first."""
    head = slot.rstrip("0123456789")
    tail = slot[len(head) :]
    return ("" if head == "rootfs" else head, int(tail) if tail else -1)


def check_inputs(inputs: GenerateInputs) -> None:
    """Refuse unsafe or duplicate guest names before anything is rendered.

    Raises:
        ManifestError: a name could escape the output directory, two guests share a VMID, or a guest
            without a VMID shares its name.
    """
    names: dict[str, str] = {}
    unnumbered: set[str] = set()
    vmids: dict[int, str] = {}
    for guest in inputs.guests:
        safe_name(guest.name)
        safe_name(guest.node, "node name")
        # PVE allows two guests one name; a guest to be created is known by its name only.
        if guest.name in names and (guest.vmid is None or guest.name in unnumbered):
            raise ManifestError(f"Two guests are named {guest.name!r} ({names[guest.name]} and {guest.ref}).")
        names[guest.name] = guest.ref
        if guest.vmid is None:
            unnumbered.add(guest.name)
        if guest.vmid is not None:
            if guest.vmid in vmids:
                raise ManifestError(
                    f"Two guests have VMID {guest.vmid} ({vmids[guest.vmid]} and {guest.name})."
                )
            vmids[guest.vmid] = guest.name


# ----------------------------------------------------------------------------- from manifests

_PASSTHROUGH = {"scsihw": "scsihw", "bios": "bios", "machine": "machine", "hookscript": "hookscript"}
# Config keys that are the guest's own business at runtime or that no generator should copy.
_IGNORED_CONFIG = frozenset({"boot", "meta", "vmgenid", "smbios1", "digest", "arch"})


def _common_fields(manifest: AnyManifest, passthrough: dict[str, Any]) -> dict[str, Any]:
    """Return the GuestSpec fields VMs and containers share: placement, sizes, tags, clone, flags."""
    spec = manifest.spec
    return {
        "name": manifest.name,
        "node": manifest.node,
        "vmid": manifest.vmid,
        "cores": spec.cores,
        "memory": spec.memory,
        "tags": list(spec.tags or []),
        "tags_managed": spec.tags is not None,
        "pool": spec.pool,
        "state": spec.state,
        "template": bool(spec.template),
        "clone_from": spec.clone.source if spec.clone else None,
        "clone_full": spec.clone.full if spec.clone else True,
        "clone_storage": spec.clone.storage if spec.clone else None,
        "onboot": spec.onboot,
        "ostype": spec.os_type,
        "description": spec.description,
        "protection": spec.protection,
        **{k: str(v) for k, v in passthrough.items() if v is not None},
    }


def _vm_cloud_init(manifest: VmManifest) -> CloudInit | None:
    """Return a VM's cloud-init settings for the generators; None without a `cloud_init:` section."""
    ci = manifest.spec.cloud_init
    if ci is None:
        return None
    return CloudInit(
        user=ci.user,
        ssh_keys=list(ci.ssh_keys or []),
        ip=ci.ip,
        gateway=ci.gw,
        nameserver=ci.nameserver,
        searchdomain=ci.searchdomain,
        storage=ci.storage,
        drive=ci.drive,
    )


def _vm_fields(manifest: VmManifest) -> dict[str, Any]:
    """Return a VM's own GuestSpec fields: CPU, agent, disks, NICs and cloud-init."""
    vm = manifest.spec
    return {
        "kind": "vm",
        "sockets": vm.sockets,
        "cpu_type": vm.cpu,
        "agent": vm.agent,
        "disks": [Disk(slot=d.slot, storage=d.storage, size=d.size) for d in vm.disks or []],
        "networks": [
            Nic(slot=n.slot, model=n.model, bridge=n.bridge, vlan=n.tag, mac=n.macaddr, firewall=bool(n.firewall))
            for n in vm.networks or []
        ],
        "cloud_init": _vm_cloud_init(manifest),
    }


def _ct_fields(manifest: CtManifest, config: dict[str, Any]) -> dict[str, Any]:
    """Return a container's own GuestSpec fields: rootfs and mount points, template, NICs (takes `ostemplate`)."""
    ct = manifest.spec
    disks = []
    if ct.rootfs is not None:
        disks.append(Disk(slot="rootfs", storage=ct.rootfs.storage, size=ct.rootfs.size, path="/"))
    disks += [
        Disk(slot=m.slot, storage=m.storage, size=m.size, path=m.path, source=m.source)
        for m in ct.mounts or []
    ]
    ostemplate = ct.ostemplate or (str(config.pop("ostemplate")) if "ostemplate" in config else None)
    return {
        "kind": "ct",
        "swap": ct.swap,
        "unprivileged": ct.unprivileged,
        "ostemplate": ostemplate,
        "ssh_keys": list(ct.ssh_keys or []),
        "disks": disks,
        "networks": [
            Nic(
                slot=n.slot,
                name=n.name,
                bridge=n.bridge,
                vlan=n.tag,
                mac=n.hwaddr,
                firewall=bool(n.firewall),
                ip=n.ip,
                gateway=n.gw,
            )
            for n in ct.networks or []
        ],
    }


def spec_from_manifest(manifest: AnyManifest) -> GuestSpec | None:
    """Describe a manifest's guest for the generators; None for one whose state is `absent`."""
    if manifest.spec.state == "absent":
        return None
    config = dict(manifest.spec.config)
    passthrough = {field: config.pop(key) for key, field in _PASSTHROUGH.items() if key in config}
    for key in _IGNORED_CONFIG:
        config.pop(key, None)
    common = _common_fields(manifest, passthrough)
    if isinstance(manifest, VmManifest):
        own = _vm_fields(manifest)
    else:
        assert isinstance(manifest, CtManifest)
        own = _ct_fields(manifest, config)
    return GuestSpec(**own, unmapped=sorted(config), **common)


def static_address(spec: GuestSpec) -> str | None:
    """Return the guest's first static IPv4 address (cloud-init or container NIC), if it has one."""
    candidates: list[str | None] = []
    if spec.cloud_init:
        candidates.append(spec.cloud_init.ip)
    candidates.extend(n.ip for n in spec.networks)
    return _first_static(candidates)


def manifest_static_address(manifest: AnyManifest) -> str | None:
    """Return static_address of a manifest's guest, read from the manifest (no GuestSpec built): a VM's
    cloud-init address, a container's NIC addresses."""
    if isinstance(manifest, VmManifest):
        ci = manifest.spec.cloud_init
        return _first_static([ci.ip] if ci is not None else [])
    assert isinstance(manifest, CtManifest)
    return _first_static([n.ip for n in manifest.spec.networks or []])


def _first_static(candidates: Iterable[str | None]) -> str | None:
    for cidr in candidates:
        if cidr and cidr not in ("dhcp", "manual", "auto"):
            try:
                return str(ipaddress.ip_interface(cidr).ip)
            except ValueError:
                continue
    return None


def agent_address(interfaces: Any) -> str | None:
    """Return the first routable IPv4 address of a guest agent (or LXC interfaces) answer."""
    if isinstance(interfaces, dict):
        interfaces = interfaces.get("result", [])
    for iface in interfaces or []:
        if not isinstance(iface, dict) or iface.get("name") == "lo":
            continue
        for addr in iface.get("ip-addresses") or []:
            if addr.get("ip-address-type") not in ("ipv4", "inet"):
                continue
            try:
                ip = ipaddress.ip_address(str(addr.get("ip-address")))
            except ValueError:
                continue
            if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
                return str(ip)
    return None


class Observed(Model):
    """A guest that exists, as the cluster or the state store knows it."""

    kind: Literal["vm", "ct"]
    vmid: int
    name: str
    node: str
    status: str | None = None
    address: str | None = None


def merge(desired: Iterable[GuestSpec], observed: Iterable[Observed]) -> list[GuestSpec]:
    """Join desired guests with what exists: the VMID, node and address of each existing guest.

    A guest's address is the static one its description names (cloud-init or a container NIC: what
    the guest is configured to use), else the one observed (its agent's), else the one it was given.
    """
    seen = list(observed)
    by_vmid = {o.vmid: o for o in seen}
    by_name = {(o.kind, o.name): o for o in seen}
    out = []
    for want in desired:
        have = by_vmid.get(want.vmid) if want.vmid is not None else by_name.get((want.kind, want.name))
        if have is None or have.kind != want.kind:
            out.append(
                want.model_copy(update={"exists": False, "address": want.address or static_address(want)})
            )
            continue
        out.append(
            want.model_copy(
                update={
                    "vmid": have.vmid,
                    "exists": True,
                    "current_node": have.node,
                    "current_status": have.status,
                    "address": static_address(want) or have.address or want.address,
                }
            )
        )
    return out
