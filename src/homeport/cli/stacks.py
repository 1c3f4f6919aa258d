"""`homeport plan -f FILE` and `homeport apply -f FILE`: deployments as code (homeport/stack)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from homeport.cli.output import print_json
from homeport.cli.scaling import Clients

SIGNS = {"create": "[green]+[/]", "update": "[yellow]~[/]", "delete": "[red]-[/]"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--file", required=True, help="the deployment file (YAML or JSON)")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a value for ${NAME} in the file")
    p.add_argument("--stack", help="the stack's name (default: the file's Stack, else its name without extension)")


def _stack(args: argparse.Namespace) -> Any:
    from homeport.stack.document import StackError, load

    variables = {}
    for pair in args.var:
        name, sep, value = pair.partition("=")
        if not sep:
            raise StackError(f'--var "{pair}" must be NAME=VALUE.')
        variables[name] = value
    return load(args.file, variables, args.stack)


def cmd_plan(args: argparse.Namespace, clients: Clients) -> int:
    from rich.console import Console

    from homeport.stack.document import StackError
    from homeport.stack.observed import observe
    from homeport.stack.plan import plan

    try:
        stack = _stack(args)
        steps = plan(stack, observe(clients, stack))
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print_json({"Stack": stack.name, "Changes": [_public(c) for c in steps.changes], "UnderWay": steps.under_way})
    else:
        console = Console(highlight=False, soft_wrap=True)
        for change in steps.changes:
            console.print(_line(change))
        for name, what in steps.under_way.items():
            console.print(f"  [cyan]…[/] endpoint {name}: {what}")
        console.print(_summary(stack.name, steps.changes) if steps.changes else f"Stack {stack.name}: no changes.")
    # As `terraform plan -detailed-exitcode` does, 2 tells a CI step that applying would change something.
    return 2 if args.detailed_exitcode and steps.changes else 0


def cmd_apply(args: argparse.Namespace, clients: Clients) -> int:
    from rich.console import Console

    from homeport.stack.apply import apply
    from homeport.stack.document import StackError

    console = Console(highlight=False, soft_wrap=True, quiet=args.json)
    try:
        stack = _stack(args)
        done = apply(
            clients, stack, wait=not args.no_wait, timeout=args.timeout, report=lambda c: console.print(_line(c))
        )
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print_json({"Stack": stack.name, "Changes": [_public(c) for c in done.changes], "Rounds": done.rounds})
    else:
        console.print(
            _summary(stack.name, done.changes, "made") if done.changes else f"Stack {stack.name}: no changes."
        )
    return 0


def _line(change: Any) -> str:
    detail = f"  [dim]{change.detail}[/]" if change.detail else ""
    return f"  {SIGNS[change.action]} {change.kind} {change.name}{detail}"


def _summary(stack: str, changes: list[Any], verb: str = "to make") -> str:
    counts = {a: sum(c.action == a for c in changes) for a in SIGNS}
    return (
        f"Stack {stack}: {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete"
        + (" (made)." if verb == "made" else ".")
    )


def _public(change: Any) -> dict[str, Any]:
    return {
        "Action": change.action,
        "Kind": change.kind,
        "Name": change.name,
        "Operation": change.operation,
        "Detail": change.detail,
    }
