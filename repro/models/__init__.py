"""Tiny models built from configs (never downloaded) for ci / reduced scale runs."""
