"""The pure domain core: money, ledger, order books, matching, fees.

Nothing in this package performs I/O or imports from the rest of Bourse. The matching core may
be compiled (``native``): its guard runs before any of it is imported.
"""

from bourse.domain.native import guard

guard()
