"""The fast path's shortcuts, fenced (design note in docs/architecture.md, "The fast path")."""
