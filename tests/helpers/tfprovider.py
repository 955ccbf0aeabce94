"""A schema-only bpg/proxmox provider, so that real `terraform validate` runs offline.

Terraform's own decoder checks a configuration against the schema its provider serves: every block,
argument, type, reference and `import` target. The provider registry is out of reach in tests, so this
module serves the pinned provider's schema (tests/fixtures/bpg-proxmox-<version>.schema.json, the
`terraform providers schema -json` shape) over plugin protocol 6 from a gRPC server in this process,
and Terraform attaches to it through TF_REATTACH_PROVIDERS (the provider debug mode) instead of
installing one. The server answers the schema and metadata calls and accepts every configuration
check with no diagnostics: what fails is what Terraform itself finds wrong. Anything that would need a
real cluster (plan, apply, import) is answered UNIMPLEMENTED.

The protocol definition (tfplugin6_schema_only.proto beside this file) is compiled with grpcio-tools
when first used, so the generated code always matches the installed protobuf runtime.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

SCHEMA_FILE = Path(__file__).parents[1] / "fixtures" / "bpg-proxmox-0.111.1.schema.json"
PROVIDER = "registry.terraform.io/bpg/proxmox"
PROTO = Path(__file__).with_name("tfplugin6_schema_only.proto")
SERVICE = "tfplugin6.Provider"
# A CLI configuration under which `terraform init` can install nothing from anywhere: the reattached
# provider is the only one it may use, and no version check calls home.
CLI_CONFIG = """\
disable_checkpoint = true
provider_installation {
  filesystem_mirror {
    path    = "%s"
    include = ["*/*/*"]
  }
}
"""


@cache
def protocol() -> ModuleType:
    """The message classes of tfplugin6_schema_only.proto, compiled once per process."""
    from grpc_tools import protoc

    out = Path(tempfile.mkdtemp(prefix="pmpc-tfplugin6-"))
    try:
        status = protoc.main(["protoc", f"--proto_path={PROTO.parent}", f"--python_out={out}", str(PROTO)])
        if status != 0:
            raise RuntimeError(f"protoc could not compile {PROTO.name} (exit {status})")
        name = f"{PROTO.stem}_pb2"
        spec = importlib.util.spec_from_file_location(name, out / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _attribute(pb: ModuleType, name: str, spec: dict[str, Any]) -> Any:
    attribute = pb.Schema.Attribute(
        name=name,
        description=spec.get("description", ""),
        required=bool(spec.get("required")),
        optional=bool(spec.get("optional")),
        computed=bool(spec.get("computed")),
        sensitive=bool(spec.get("sensitive")),
        deprecated=bool(spec.get("deprecated")),
        write_only=bool(spec.get("write_only")),
    )
    if "nested_type" in spec:
        nested = spec["nested_type"]
        attribute.nested_type.CopyFrom(
            pb.Schema.Object(
                attributes=[_attribute(pb, n, s) for n, s in sorted(nested["attributes"].items())],
                nesting=pb.Schema.Object.NestingMode.Value(nested["nesting_mode"].upper()),
            )
        )
    else:
        attribute.type = json.dumps(spec["type"], separators=(",", ":")).encode()
    return attribute


def _block(pb: ModuleType, spec: dict[str, Any]) -> Any:
    return pb.Schema.Block(
        attributes=[_attribute(pb, n, s) for n, s in sorted(spec.get("attributes", {}).items())],
        block_types=[
            pb.Schema.NestedBlock(
                type_name=name,
                block=_block(pb, nested["block"]),
                nesting=pb.Schema.NestedBlock.NestingMode.Value(nested["nesting_mode"].upper()),
                min_items=nested.get("min_items", 0),
                max_items=nested.get("max_items", 0),
            )
            for name, nested in sorted(spec.get("block_types", {}).items())
        ],
        description=spec.get("description", ""),
        deprecated=bool(spec.get("deprecated")),
    )


def to_schema(pb: ModuleType, spec: dict[str, Any]) -> Any:
    """One schema of `terraform providers schema -json` ({"version", "block"}) as a protocol message."""
    return pb.Schema(version=spec.get("version", 0), block=_block(pb, spec["block"]))


def provider_schema(pb: ModuleType, schema_file: Path = SCHEMA_FILE, address: str = PROVIDER) -> Any:
    """The GetProviderSchema answer for `address` in a `terraform providers schema -json` file."""
    schemas = json.loads(schema_file.read_text(encoding="utf-8"))["provider_schemas"][address]
    return pb.GetProviderSchemaResponse(
        provider=to_schema(pb, schemas["provider"]),
        resource_schemas={n: to_schema(pb, s) for n, s in schemas.get("resource_schemas", {}).items()},
        data_source_schemas={n: to_schema(pb, s) for n, s in schemas.get("data_source_schemas", {}).items()},
        server_capabilities=pb.ServerCapabilities(get_provider_schema_optional=True),
    )


@dataclass
class SchemaOnlyProvider:
    """The provider's gRPC server; `calls` records (rpc, type name) in the order Terraform made them."""

    port: int
    stop: Callable[[], None]
    calls: list[tuple[str, str]] = field(default_factory=list)

    @property
    def reattach(self) -> str:
        """The TF_REATTACH_PROVIDERS value that makes Terraform use this server for bpg/proxmox."""
        return json.dumps(
            {
                PROVIDER: {
                    "Protocol": "grpc",
                    "ProtocolVersion": 6,
                    "Pid": os.getpid(),
                    # Test: Terraform must never stop this process, which is the test run itself.
                    "Test": True,
                    "Addr": {"Network": "tcp", "String": f"127.0.0.1:{self.port}"},
                }
            }
        )


@contextmanager
def serve(schema_file: Path = SCHEMA_FILE, address: str = PROVIDER) -> Iterator[SchemaOnlyProvider]:
    """Serve the schema on 127.0.0.1 (a free port) until the block ends."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    pb = protocol()
    schema = provider_schema(pb, schema_file, address)
    metadata = pb.GetMetadataResponse(
        server_capabilities=schema.server_capabilities,
        resources=[pb.TypeName(type_name=n) for n in sorted(schema.resource_schemas)],
        data_sources=[pb.TypeName(type_name=n) for n in sorted(schema.data_source_schemas)],
    )
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def answer(rpc: str, request_type: Any, response: Callable[[Any], Any]) -> Any:
        def handle(request: Any, _context: Any) -> Any:
            with lock:
                calls.append((rpc, getattr(request, "type_name", "")))
            return response(request)

        return grpc.unary_unary_rpc_method_handler(
            handle,
            request_deserializer=request_type.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )

    handlers = {
        "GetMetadata": answer("GetMetadata", pb.GetMetadataRequest, lambda _r: metadata),
        "GetProviderSchema": answer("GetProviderSchema", pb.GetProviderSchemaRequest, lambda _r: schema),
        "ValidateProviderConfig": answer(
            "ValidateProviderConfig", pb.ValidateProviderConfigRequest, lambda _r: pb.ValidateProviderConfigResponse()
        ),
        "ValidateResourceConfig": answer(
            "ValidateResourceConfig", pb.ValidateConfigRequest, lambda _r: pb.ValidateConfigResponse()
        ),
        "ValidateDataResourceConfig": answer(
            "ValidateDataResourceConfig", pb.ValidateConfigRequest, lambda _r: pb.ValidateConfigResponse()
        ),
        "GetFunctions": answer("GetFunctions", pb.GetFunctionsRequest, lambda _r: pb.GetFunctionsResponse()),
        "StopProvider": answer("StopProvider", pb.StopProviderRequest, lambda _r: pb.StopProviderResponse()),
    }
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield SchemaOnlyProvider(port=port, stop=lambda: server.stop(grace=None), calls=calls)
    finally:
        server.stop(grace=None)


def terraform_env(provider: SchemaOnlyProvider, home: Path) -> dict[str, str]:
    """An environment for the terraform binary: this provider reattached, nothing to fetch, no TF_* leaks."""
    home.mkdir(parents=True, exist_ok=True)
    mirror = home / "no-providers"
    mirror.mkdir(exist_ok=True)
    config = home / "terraform.rc"
    config.write_text(CLI_CONFIG % mirror, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "CHECKPOINT_"))}
    env.update(
        TF_CLI_CONFIG_FILE=str(config),
        TF_REATTACH_PROVIDERS=provider.reattach,
        TF_DATA_DIR=str(home / "data"),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
        NO_COLOR="1",
    )
    return env


def run_terraform(
    binary: str, args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run terraform with an argument list (no shell), without colours, capturing its output."""
    return subprocess.run(
        [binary, *args, "-no-color"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


if __name__ == "__main__":  # pragma: no cover - a manual aid: serve until Ctrl-C, print the reattach value
    with serve() as running:
        print(f"TF_REATTACH_PROVIDERS='{running.reattach}'", file=sys.stderr)
        threading.Event().wait()
