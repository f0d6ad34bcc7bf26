"""Bourse's test suite (a package, so every test module can import ``tests.support``)."""
