"""The pure domain core: money, ledger, order books, matching, fees.

Nothing in this package performs I/O or imports from the rest of Bourse. The matching core may
be compiled by mypyc (``bourse.native``, whose guard runs when ``bourse`` is imported).
"""
