"""Where generated files may be written, and what regenerating does to each existing file."""

from __future__ import annotations

import pytest

from proxmox_mpc.errors import Conflict, ManifestError
from proxmox_mpc.generators.common import scaffold_header, with_header
from proxmox_mpc.services.generate import check_relative, plan_files, write_files


@pytest.mark.parametrize(
    "rel",
    ["../x.tf", "/etc/passwd", "a/../../x", "host_vars/../../x.yml", ".hidden/x", ""],
    ids=["parent", "absolute", "climb", "nested-climb", "hidden", "empty"],
)
def test_paths_that_leave_the_output_directory_are_refused(rel):
    with pytest.raises(ManifestError, match="Refusing to write"):
        check_relative(rel)


def test_a_symlink_out_of_the_directory_is_refused(tmp_path):
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "inventory").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ManifestError, match="resolves outside"):
        plan_files(
            "ansible",
            out,
            {"inventory/hosts.yml": with_header("ansible", "hosts.yml", "all: {}\n")},
            force=True,
        )
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "in-a-directory"])
def test_a_file_that_is_a_symlink_out_of_the_directory_is_refused(tmp_path, nested):
    out = tmp_path / "out"
    (out / "host_vars").mkdir(parents=True)
    outside = tmp_path / "outside.yml"
    outside.write_text("theirs\n", encoding="utf-8")
    rel = "host_vars/web-1.yml" if nested else "site.yml"
    (out / rel).symlink_to(outside)
    with pytest.raises(ManifestError, match="resolves outside"):
        plan_files("ansible", out, {rel: with_header("ansible", "web-1.yml", "a: 1\n")}, force=True)
    assert outside.read_text(encoding="utf-8") == "theirs\n"


def test_actions_for_each_kind_of_existing_file(tmp_path):
    out = tmp_path / "out"
    old = {
        "same.tf": with_header("terraform", "same.tf", "a = 1\n"),
        "older.tf": with_header("terraform", "older.tf", "a = 1\n"),
        "gone.tf": with_header("terraform", "gone.tf", "a = 1\n"),
        "mine.tf": with_header("terraform", "mine.tf", "a = 1\n"),
        "roles/x/tasks/main.yml": scaffold_header("terraform", "main.yml") + "- x\n",
    }
    write_files(out, old, plan_files("terraform", out, old, force=False))
    (out / "mine.tf").write_text(old["mine.tf"] + "# my note\n", encoding="utf-8")
    (out / "notes.txt").write_text("not ours\n", encoding="utf-8")
    new = {
        "same.tf": old["same.tf"],
        "older.tf": with_header("terraform", "older.tf", "a = 2\n"),
        "new.tf": with_header("terraform", "new.tf", "b = 1\n"),
        "roles/x/tasks/main.yml": scaffold_header("terraform", "main.yml") + "- y\n",
    }
    planned = {f.file: f.action for f in plan_files("terraform", out, new, force=False)}
    assert planned == {
        "same.tf": "unchanged",
        "older.tf": "update",
        "new.tf": "create",
        "roles/x/tasks/main.yml": "keep",
        "gone.tf": "delete",
    }
    # mine.tf is not produced any more, and it was edited: it is neither overwritten nor deleted.
    new["mine.tf"] = with_header("terraform", "mine.tf", "a = 3\n")
    with pytest.raises(Conflict, match=r"mine\.tf") as caught:
        plan_files("terraform", out, new, force=False)
    assert caught.value.details == {"files": [str(out / "mine.tf")]}
    files = plan_files("terraform", out, new, force=True)
    assert {f.file: f.action for f in files}["mine.tf"] == "overwrite"
    write_files(out, new, files)
    assert (out / "mine.tf").read_text(encoding="utf-8") == new["mine.tf"]
    assert not (out / "gone.tf").exists()
    assert (out / "notes.txt").read_text(encoding="utf-8") == "not ours\n"
    assert (out / "roles/x/tasks/main.yml").read_text(encoding="utf-8").endswith("- x\n")
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_a_file_with_windows_line_ends_and_the_same_text_is_unchanged(tmp_path):
    # A checkout that turned LF into CRLF holds the same text: nothing to write, nothing edited.
    out = tmp_path / "out"
    out.mkdir()
    text = with_header("ansible", "site.yml", "- name: x\n  hosts: all\n")
    (out / "site.yml").write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    (out / "other.yml").write_bytes(text.encode("utf-8") + "\u00e9\n".encode("latin-1"))
    files = plan_files("ansible", out, {"site.yml": text, "other.yml": text}, force=True)
    assert [(f.file, f.action) for f in files] == [("other.yml", "overwrite"), ("site.yml", "unchanged")]
