"""The pure domain core: money, ledger, order books, matching, fees.

Nothing in this package performs I/O or imports from the rest of Bourse.
"""
