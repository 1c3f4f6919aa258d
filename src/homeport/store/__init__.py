"""Persistent state: SQLAlchemy tables holding each resource as its SageMaker document."""

from homeport.store import transform_progress  # noqa: F401 - registers its tables before any Store creates them
from homeport.store.db import Kind, Page, Store

__all__ = ["Kind", "Page", "Store"]
