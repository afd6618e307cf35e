"""Batch-job adapters: the JSONL files a batch reads and appends to."""
