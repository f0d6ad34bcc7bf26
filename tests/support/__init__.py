"""Helpers shared by the test packages; test packages import helpers from here only.

* ``databases``: per-test databases cloned from a template migrated once (SQLite, PostgreSQL);
* ``pg_pool``: PostgreSQL clones made ahead of the tests and dropped behind them;
* ``server``: an ASGI app served by uvicorn on loopback in a thread, and a redirect catcher;
* ``mexc``: signing MEXC requests, pointing ccxt at a test server, checking answers;
* ``platforms``: a whole platform served on loopback with a client (``Env``, ``IEnv``);
* ``live``: the demo-seeded server the real-client tests drive;
* ``snippets``: running the documentation's code blocks (fenced blocks, a server process);
* ``brokers``, ``market``, ``oauth``, ``wallet``: the worlds of those test packages.
"""
