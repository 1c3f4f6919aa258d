"""A follower front door's route table: the endpoints' documents and the leader's healthy instances, read from the
shared database, so that every front door serves the data plane, not only the one that runs the instances.

Instances are reached at the address the leader published: a Unix socket, which a follower on the leader's machine
reaches, or TCP with the instance's secret (`homeport serve --instance-host`), which any front door reaches.
Multi-model and serverless variants are left to the leader: their loading and their concurrency gates live in the
front door that runs the instances.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from homeport.controllers.loop import Loop
from homeport.controllers.routes import healthy_among, route_for
from homeport.dataplane.instances import Instance, InstanceState
from homeport.dataplane.router import Route, Router
from homeport.runtime.address import Address
from homeport.services.context import Context
from homeport.store import Kind, instance_routes
from homeport.store.instance_routes import InstanceRoute

log = logging.getLogger(__name__)

FOLLOW_S = 0.25  # how stale a follower's routes may be: an instance that became healthy or stopped


class RouteFollower:
    def __init__(self, ctx: Context, router: Router) -> None:
        self.ctx = ctx
        self.router = router
        self.instances: dict[str, Instance] = {}
        self._seen: tuple[list[InstanceRoute], list[tuple[Any, ...]]] | None = None
        self._unreadable: set[str] = set()
        self.loop = Loop("route follower")

    async def run_forever(self) -> None:
        await self.loop.run(self.run_once, lambda: FOLLOW_S)

    def run_once(self) -> None:
        store = self.ctx.store
        with store.reading() as conn:
            docs = store.all(conn, Kind.ENDPOINT)
            published = instance_routes.read(conn)
        seen = (sorted(published, key=lambda r: r.id), [_routing_part(d) for d in docs])
        if seen == self._seen:
            return
        self._seen = seen
        self._follow(published)
        healthy = healthy_among(self.instances.values())
        routes: dict[str, Route] = {}
        for doc in docs:
            variants = (doc["_serving"] or {}).get("variants", [])
            if any(v["Container"].get("Mode") == "MultiModel" or "Serverless" in v for v in variants):
                continue  # served through the leader only (see above)
            route = route_for(doc, healthy, lambda *_: None, lambda *_: None)
            if route is not None:
                routes[doc["EndpointName"]] = route
        self.router.publish(routes)

    def _follow(self, published: list[InstanceRoute]) -> None:
        """Keep an Instance (and its pooled connections) per published instance; close the gone ones'."""
        wanted: dict[str, tuple[InstanceRoute, Address]] = {}
        for r in published:
            try:
                wanted[r.id] = r, Address.parse(r.address)
            except ValueError as exc:  # written by a newer front door, or by hand: not routed to, said once
                if r.id not in self._unreadable:
                    log.warning("instance %s is not routed to from this front door: %s", r.id, exc)
                    self._unreadable.add(r.id)
        # A new leader numbers its instances from 1 again: the same id at a new address is a new instance.
        moved = [i for i, inst in self.instances.items() if i in wanted and inst.address != wanted[i][1]]
        for gone in [i for i in self.instances if i not in wanted] + moved:
            self.instances.pop(gone).client.close()
        for r, address in wanted.values():
            if r.id not in self.instances:
                self.instances[r.id] = Instance(
                    r.id, r.endpoint, r.config, r.variant, 0.0, Path(address.path), Path(), zone=r.zone,
                    state=InstanceState.HEALTHY, address=address,
                )  # fmt: skip

    def stop(self) -> None:
        """This front door now runs the instances itself: the endpoint controller's routes replace these."""
        for inst in self.instances.values():
            inst.client.close()
        self.instances.clear()
        self._seen = None


def _routing_part(doc: dict[str, Any]) -> tuple[Any, ...]:
    """What of an endpoint's document its route depends on (its variant summaries change without it)."""
    return doc["EndpointName"], doc["EndpointStatus"], doc["_serving"], doc["_target"], doc.get("_deployment")
