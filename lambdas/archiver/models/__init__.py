"""Typed shapes the layers hand each other: events, job descriptions, outputs."""
