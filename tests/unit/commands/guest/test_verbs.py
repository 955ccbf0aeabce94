"""The guest verb factory: one declaration per verb builds it for `vm` and `ct`, with pmpc's vocabulary."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from proxmox_mpc.commands._options import YesOpt
from proxmox_mpc.commands.guest import VERBS, ct_app, make_guest_app, snapshot, vm_app
from proxmox_mpc.commands.guest.verbs import BATCH, SELECTOR, TARGETS, WORDS, Param, Verb, add_verbs

ALL_VERBS = (*VERBS, *snapshot.VERBS)


def names(app: typer.Typer) -> list[str]:
    return [c.name for c in app.registered_commands]  # type: ignore[misc]


@pytest.mark.parametrize(("verb", "kind"), [(v, k) for v in ALL_VERBS for k in v.kinds],
                         ids=lambda x: x.name if isinstance(x, Verb) else x)  # fmt: skip
def test_each_verb_s_help_names_its_own_kind_only(verb, kind):
    text = verb.help_for(kind)
    other = "ct" if kind == "vm" else "vm"
    assert "\n\nExample: pmpc " + kind in text, text
    assert f"pmpc {other} " not in text and "None" not in text and not re.search(r"\{[a-z_]*\}", text), text


def test_vm_and_ct_share_their_verbs_but_exec():
    assert names(vm_app) == [
        "list", "get", "describe", "create", "clone", "start", "stop", "shutdown", "reboot", "suspend", "resume",
        "delete", "set", "resize", "migrate", "backup", "restore", "unlock", "exec", "wait",
    ]  # fmt: skip
    assert names(ct_app) == [n for n in names(vm_app) if n != "exec"]
    assert [g.name for g in vm_app.registered_groups] == ["snapshot"]


def test_a_verb_runs_its_action_with_the_console_s_object_and_pmpc_s_kind():
    calls: list[tuple[Any, str, dict[str, Any]]] = []
    verb = Verb(
        "poke",
        "Poke {plural}.\n\nExample: pmpc {prefix} poke {example}",
        (TARGETS, SELECTOR, Param("yes", YesOpt, False)),
        lambda obj, kind, **values: calls.append((obj, kind, values)),
        example={"vm": "web-1", "ct": "dns-1"},
    )
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    add_verbs(app, "ct", (verb,))
    app.command("noop")(lambda: None)  # two commands: the group keeps the verb's name
    result = CliRunner().invoke(app, ["poke", "101", "102", "-l", "tag=web", "-y"], obj="the-context")
    assert result.exit_code == 0, result.output
    assert calls == [("the-context", "ct", {"targets": ["101", "102"], "selector": ["tag=web"], "yes": True})]
    help_text = CliRunner().invoke(app, ["poke", "--help"]).output
    assert "Poke containers." in help_text and "pmpc ct poke dns-1" in help_text


def test_a_verb_of_one_kind_is_left_out_of_the_other():
    only_vm = Verb("hibernate", "Hibernate.", (TARGETS,), lambda *a, **k: None, kinds=("vm",))
    app = typer.Typer()
    add_verbs(app, "ct", (only_vm,))
    assert app.registered_commands == []


def test_the_batch_flags_keep_their_help_order():
    assert [p.name for p in BATCH] == ["dry_run", "yes", "output", "wait", "timeout", "concurrency"]


@pytest.mark.parametrize("kind", ["vm", "ct"])
def test_a_group_is_built_from_pmpc_s_kind(kind):
    app = make_guest_app(kind)
    assert app.info.help == f"Manage {WORDS[kind].title}."
    with pytest.raises(KeyError):
        make_guest_app("qemu")  # type: ignore[arg-type]
