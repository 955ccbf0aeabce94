"""Parameters declared once and shared by several commands: `Param`, and `takes` to give them to a command.

Typer reads a command's parameters from its signature. Commands that share a run of flags (apply and
destroy, the guest verbs) declare the run once as `Param`s; `takes(*params)` puts them in place of the
command's `**values`, in their order, so --help lists the same flags, in the same order, as if each
command had spelled them out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Param:
    """One command parameter: its Python name, its Typer type (`Annotated[...]`) and its default."""

    name: str
    annotation: Any
    default: Any = REQUIRED

    def parameter(self) -> inspect.Parameter:
        """Return it as a keyword-only parameter of a signature."""
        return inspect.Parameter(
            self.name, inspect.Parameter.KEYWORD_ONLY, annotation=self.annotation, default=self.default
        )


def _set_signature(function: Callable[..., Any], parameters: list[inspect.Parameter]) -> None:
    """Make `parameters` the signature Typer reads (and the annotations it resolves) of `function`."""
    function.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    function.__annotations__ = {p.name: p.annotation for p in parameters}


def takes(*params: Param) -> Callable[[F], F]:
    """Give a command the parameters `params` in place of its `**values` (after its own parameters)."""

    def decorate(function: F) -> F:
        own = [
            p
            for p in inspect.signature(function, eval_str=True).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        _set_signature(function, [*own, *(p.parameter() for p in params)])
        return function

    return decorate
