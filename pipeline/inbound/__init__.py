"""Inbound: what providers and users send back (answers, replies, payloads, status callbacks)."""
