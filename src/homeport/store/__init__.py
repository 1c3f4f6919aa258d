"""Persistent state: SQLAlchemy tables holding each resource as its SageMaker document."""

from homeport.store import alarms, async_queue, log_events, metric_points, notifications, scaling, transform_progress  # noqa: F401 - register their tables before any Store
from homeport.store.db import Kind, Page, Store

__all__ = ["Kind", "Page", "Store"]
