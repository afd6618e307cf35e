"""Billing adapters: disabled, local (SQLite ledger) and http (a billing service)."""
