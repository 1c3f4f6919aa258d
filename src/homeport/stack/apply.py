"""Carrying out a plan: make its calls, wait for the endpoints they change, and plan again until nothing is left
(the second round deletes what the first one replaced, once no endpoint serves from it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from homeport.stack.document import Stack, StackError
from homeport.stack.observed import Clients, observe
from homeport.stack.plan import CREATE, DELETE, UPDATE, Change, Plan, plan

MAX_ROUNDS = 4  # create/update, then delete what they replaced; more means something else keeps changing
SETTLED = ("InService", "Failed", "OutOfService")


@dataclass
class Applied:
    changes: list[Change] = field(default_factory=list)
    rounds: int = 0


def apply(
    clients: Clients,
    stack: Stack,
    *,
    wait: bool = True,
    timeout: float = 1800.0,
    report: Callable[[Change], None] = lambda change: None,
    poll: float = 0.25,
) -> Applied:
    done = Applied()
    for _ in range(MAX_ROUNDS):
        steps = plan(stack, observe(clients, stack))
        if not steps.changes and not (wait and steps.under_way):
            return done
        done.rounds += 1
        for change in steps.changes:
            report(change)
            call(clients, change)
            done.changes.append(change)
        if not wait:
            return done
        _settle(clients, stack, steps, timeout, poll)
    left = plan(stack, observe(clients, stack)).changes
    if left:
        raise StackError(
            f"Still {len(left)} change(s) to make after {MAX_ROUNDS} rounds (is something else changing these "
            f"resources?): {', '.join(f'{c.action} {c.kind} {c.name}' for c in left)}."
        )
    return done


def call(clients: Clients, change: Change) -> None:
    from botocore import xform_name
    from botocore.exceptions import ClientError

    client = clients(change.service)
    try:
        getattr(client, xform_name(change.operation))(**change.params)
    except ClientError as e:
        error = e.response.get("Error", {})
        raise StackError(
            f"{change.action} {change.kind} {change.name}: {error.get('Code')}: {error.get('Message')}"
        ) from None


def _settle(clients: Clients, stack: Stack, steps: Plan, timeout: float, poll: float) -> None:
    """Wait until each endpoint this round created, updated or deleted is done, and refuse one that failed or
    rolled back: its deployment's alarms or health checks said no."""
    from botocore.exceptions import ClientError

    sm = clients("sagemaker")
    moving = {c.name: c.action for c in steps.changes if c.kind == "endpoint" and c.operation != "AddTags"}
    moving |= dict.fromkeys(steps.under_way, UPDATE)
    deadline = time.monotonic() + timeout
    while moving:
        for name, action in list(moving.items()):
            try:
                doc = sm.describe_endpoint(EndpointName=name)
            except ClientError:
                if action == DELETE:
                    del moving[name]
                    continue
                raise
            if action == DELETE or doc["EndpointStatus"] not in SETTLED or "PendingDeploymentSummary" in doc:
                continue
            del moving[name]
            wanted = stack.section("Endpoints")[name]["EndpointConfigName"]
            if doc["EndpointStatus"] == "Failed" or doc["EndpointConfigName"] != wanted:
                how = "failed" if doc["EndpointStatus"] == "Failed" else f"rolled back to {doc['EndpointConfigName']}"
                verb = "creating" if action == CREATE else "updating"
                raise StackError(f"Endpoint {name} {how} {verb} it: {doc.get('FailureReason', 'no reason given')}")
        if moving:
            if time.monotonic() > deadline:
                raise StackError(f"Endpoint(s) {', '.join(moving)} still not settled after {timeout:g}s.")
            time.sleep(poll)
