"""The fast path's shortcuts, fenced in one place: the row layer (rows.py), the row cache
(rowcache.py) and the keying rule of per-version caches (versions.py). This package imports
Django and psycopg only; the app-specific shortcuts that use it (the trigger's insert columns and
positional build next to the Event model, the trigger's configuration read) name it. What each
shortcut saves, the invariant it relies on and the test that holds it: docs/architecture.md,
"The fast path"."""
