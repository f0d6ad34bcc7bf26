"""A simulated blockchain for deposits and withdrawals (sandbox mode): an adapter of the
wallet's ``Chain`` port (``bourse.services.wallet.chain``).

* ``networks``: the networks per coin (``NetworkSpec``, ``ChainConfig``, ``DEFAULT_NETWORKS``);
* ``addresses``: chain-looking addresses and txids derived from a server secret;
* ``simulator``: ``SimulatedChain``, its addresses, payments and block clock;
* ``blocks``: what one block does (confirm, credit, sign, broadcast, settle or fail).

Every loop is bounded: ``advance`` mines at most ``MAX_ADVANCE`` blocks per call, each block
handles at most ``max_per_block`` deposits and withdrawals per step, and the clock thread stops
on ``stop()`` (or after ``max_blocks``).
"""

from bourse.sandbox.chain.addresses import chain_secret, derive_address, format_address
from bourse.sandbox.chain.blocks import BlockReport
from bourse.sandbox.chain.networks import DEFAULT_NETWORKS, ChainConfig, NetworkSpec
from bourse.sandbox.chain.simulator import MAX_ADVANCE, SimulatedChain

__all__ = [
    "DEFAULT_NETWORKS",
    "MAX_ADVANCE",
    "BlockReport",
    "ChainConfig",
    "NetworkSpec",
    "SimulatedChain",
    "chain_secret",
    "derive_address",
    "format_address",
]
