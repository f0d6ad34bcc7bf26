"""Helpers shared by the test packages; test packages import helpers from here only.

* ``databases``: per-test databases cloned from a template migrated once (SQLite, PostgreSQL);
* ``server``: an ASGI app served by uvicorn on loopback in a thread, and a redirect catcher.
"""
