"""Persistent state: SQLAlchemy tables holding each resource as its SageMaker document."""

from homeport.store.db import Kind, Page, Store

__all__ = ["Kind", "Page", "Store"]
