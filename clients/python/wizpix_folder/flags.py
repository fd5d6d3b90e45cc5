"""The ``/remove-bg`` options as command-line flags, generated from the service's own
``OutputOptions``: a field added there is a flag here with nothing else to change."""

from __future__ import annotations

import argparse
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from wizpix.image.options import OutputOptions

OPTION_DEST = "option:"  # argparse dest prefix of the generated /remove-bg flags


def _unwrap_optional(annotation: Any) -> Any:
    """``X | None`` → ``X``: an unset flag is how a CLI says None."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def add_option_flags(parser: argparse.ArgumentParser, model: type[BaseModel] = OutputOptions) -> None:
    """One flag per field of ``model``: bools as ``--x/--no-x``, Literals as choices, ints
    and floats typed, anything else passed as text for the model itself to validate."""
    group = parser.add_argument_group("/remove-bg options (from wizpix.image.options.OutputOptions)")
    for name, info in model.model_fields.items():
        annotation = _unwrap_optional(info.annotation)
        flag = "--" + name.replace("_", "-")
        flags = [flag] if "_" not in name else [flag, f"--{name}"]
        default = "" if info.default is None else f" (server default: {info.default})"
        common: dict[str, Any] = {
            "dest": OPTION_DEST + name,
            "default": argparse.SUPPRESS,  # only what was given is sent
            "help": ((info.description or name) + default).replace("%", "%%"),
        }
        if annotation is bool:
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **common)
        elif get_origin(annotation) is Literal:
            choices = get_args(annotation)
            group.add_argument(*flags, choices=choices, type=type(choices[0]), **common)
        elif annotation in (int, float):
            group.add_argument(*flags, type=annotation, metavar=name.upper(), **common)
        else:
            group.add_argument(*flags, metavar=name.upper(), **common)


def options_from(namespace: argparse.Namespace, model: type[BaseModel] = OutputOptions) -> BaseModel:
    """The validated options the flags asked for (``ValidationError`` when the model refuses)."""
    given = {
        key.removeprefix(OPTION_DEST): value
        for key, value in vars(namespace).items()
        if key.startswith(OPTION_DEST)
    }
    return model(**given)


def query_params(options: BaseModel) -> dict[str, str]:
    """The query string for ``options``: only values that differ from the defaults, so that
    a field added to the model later does not make every earlier output look stale."""
    params = {}
    for name, value in options.model_dump(mode="json", exclude_defaults=True).items():
        if value is None:
            continue
        params[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return dict(sorted(params.items()))
