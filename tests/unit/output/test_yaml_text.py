"""LibYAML's emitter writes the same bytes as PyYAML's pure-Python one for what pmpc dumps."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from proxmox_mpc.output import yaml_text
from proxmox_mpc.services.manifests import manifest_dumper

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeDumper"), reason="PyYAML without LibYAML")

# Text as manifests and API answers hold it: names, paths, descriptions over several lines, odd spacing,
# quotes, YAML indicators, numbers and booleans spelled as strings, and letters beyond ASCII.
words = st.sampled_from(
    ["web-1", "yes", "no", "null", "~", "1e3", "0x1F", "007", "- item", "a: b", "#tag", "'quoted'", '"dq"',
     "C:\\path", "ünïcode", "日本", "emoji 🚀", "tab\there", " lead", "trail ", "", "%", "@at", "`tick`", "*"]
)
text = st.one_of(
    words,
    st.lists(words, max_size=4).map(" ".join),
    st.lists(words, max_size=40).map(" ".join),
    st.lists(words, min_size=1, max_size=4).map("\n".join),
    st.lists(words, min_size=1, max_size=4).map(lambda parts: "\n".join(parts) + "\n"),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
)
scalars = st.one_of(text, st.integers(-(2**63), 2**63), st.booleans(), st.none(), st.floats(allow_nan=False))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=20,
)


def both(data: object, pure: type[yaml.SafeDumper], fast: type[yaml.SafeDumper], **options: object) -> tuple[str, str]:
    return yaml.dump(data, Dumper=pure, **options), yaml_text.safe_dump(data, dumper=fast, **options)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_printer_output_is_the_same_with_libyaml(data):
    pure, fast = both(data, yaml.SafeDumper, yaml_text.SafeDumper, sort_keys=False, allow_unicode=True)
    assert fast == pure


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(text, documents, max_size=6))
def test_manifest_output_is_the_same_with_libyaml(document):
    options = {"sort_keys": False, "default_flow_style": False, "allow_unicode": True}
    pure, fast = both(document, manifest_dumper(yaml.SafeDumper), manifest_dumper(yaml.CSafeDumper), **options)
    assert fast == pure


def test_the_fast_dumper_is_libyaml_when_available():
    assert yaml_text.SafeDumper is yaml.CSafeDumper
    assert yaml_text.safe_dump({"a": [1, "b"]}, sort_keys=False) == "a:\n- 1\n- b\n"


@pytest.mark.parametrize(
    ("data", "alike"),
    [
        ({"a": [1, {"b": "c d\ne"}]}, True),
        ("web-1", False),
        ({"a": {"": None}}, False),
        ([[{"": 1}]], False),
        ({"a": "emoji 🚀"}, False),
        ({"tab\there": 1}, False),
        (["bell \x07"], False),
        ({"a\nb": 1}, False),
        ({"a": "kept\n\n"}, False),
        ({"a": ["\n", "b"]}, False),
        ({1: "int key"}, False),
    ],
    ids=[
        "nested", "bare-scalar", "empty-key", "empty-key-in-list", "astral", "tab-in-key", "control",
        "multi-line-key", "kept-breaks", "lone-break", "int-key",
    ],
)
def test_shapes_the_emitters_write_differently_go_through_the_pure_one(data, alike):
    assert yaml_text.emits_alike(data) is alike
    assert yaml_text.safe_dump(data) == yaml.safe_dump(data)


# Manifest-like documents: short keys, names, sizes, MACs, option strings, flags and numbers, nested as a
# manifest nests them, with the odd text among them (indicators, spaces, quotes, lines near the width).
simple_words = st.sampled_from(
    ["web-1", "local-lvm", "32G", "BC:24:11:00:01:01", "virtio,bridge=vmbr0", "order=scsi0;net0", "on", "yes",
     "1.5", "0x1F", "=", "~", "-cpu host", "a: b", "a #b", "x:", "'q'", "a  b", "(x)", "[x]", "x]", "...", "",
     "/var/lib/vz", "ip=10.0.0.5/24,gw=10.0.0.1", "@x", "%x", "tab\there", "ünï"]
)
plain_words = st.sampled_from(["web-1", "local-lvm", "32G", "a", "bb", "vmbr0", "x.y", "(c)", "on"])
simple_text = st.one_of(
    simple_words,
    st.lists(simple_words, min_size=1, max_size=12).map(" ".join),
    st.lists(plain_words, min_size=8, max_size=20).map(" ".join),  # around the width where text folds
)
simple_scalars = st.one_of(simple_text, st.integers(-(2**63), 2**63), st.booleans())
simple_keys = st.sampled_from(["kind", "name", "slot", "size", "config", "net0", "a-b", "x.y", "yes", "1", "-k"])
simple_documents = st.recursive(
    simple_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(simple_keys, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.dictionaries(simple_keys, simple_documents, min_size=1), st.dictionaries(text, documents)))
def test_the_block_writer_writes_what_both_emitters_write_or_leaves_the_document_to_them(document):
    written = yaml_text.block_dump(document)
    if written is not None:
        options = {"sort_keys": False, "default_flow_style": False, "allow_unicode": True}
        for dumper in (manifest_dumper(yaml.SafeDumper), manifest_dumper(yaml.CSafeDumper)):
            assert written == yaml.dump(document, Dumper=dumper, **options)


def test_a_manifest_of_the_usual_shape_is_written_without_pyyaml():
    document = {
        "kind": "VM", "name": "web-1", "node": "pve1", "vmid": 101,
        "spec": {
            "cores": 2, "memory": 2048, "agent": True,
            "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "32G"}],
            "networks": [{"slot": "net0", "model": "virtio", "bridge": "vmbr0", "macaddr": "BC:24:11:00:01:01"}],
            "mounts": [], "tags": ["prod", "web"], "description": "the front web server", "state": "running",
            "config": {"scsihw": "virtio-scsi-pci", "boot": "order=scsi0;net0", "kvm": "yes"},
        },
    }  # fmt: skip
    written = yaml_text.block_dump(document)
    assert written is not None and "  - slot: scsi0\n    storage: local-lvm\n" in written
    assert "    kvm: 'yes'\n" in written and "  mounts: []\n" in written
    assert written == yaml.dump(document, Dumper=manifest_dumper(), sort_keys=False, default_flow_style=False)


@pytest.mark.parametrize(
    "document",
    [{"a": "two\nlines"}, {"a": 1.5}, {"a": None}, {"a": "word " * 20}, {"a": "ünï"}, {"a": [[1]]}, {"": 1},
     {"a": "-cpu host"}, {"a": "b: c"}, {"a": " lead"}, {}],
    ids=["lines", "float", "null", "long", "unicode", "nested-list", "empty-key", "indicator", "colon", "space",
         "empty"],
)  # fmt: skip
def test_shapes_beyond_the_simple_ones_are_left_to_pyyaml(document):
    assert yaml_text.block_dump(document) is None
