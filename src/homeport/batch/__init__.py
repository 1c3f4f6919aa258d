"""Batch transform: record framing, planning of ranges and mini-batches, DataProcessing filters and joins."""
