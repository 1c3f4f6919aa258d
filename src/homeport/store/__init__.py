"""Persistent state: SQLAlchemy tables holding each resource as its SageMaker document."""

# Each module registers its tables on the one MetaData, before any Store opens.
from homeport.store import (  # noqa: F401  # noqa: F401
    alarms,
    async_queue,
    instance_routes,
    log_events,
    metric_points,
    notifications,
    scaling,
    transform_progress,
)
from homeport.store.db import Kind, Page, Store

__all__ = ["Kind", "Page", "Store"]
