"""Commands beyond feed management: topics, search, alerts, changes, daemon."""
