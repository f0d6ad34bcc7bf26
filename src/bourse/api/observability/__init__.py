"""What an operator watches: request ids and request metrics (``middleware``), ``/healthz`` and
``/readyz`` (``health``), Prometheus metrics at ``/metrics`` (``metrics``). docs/operations.md."""
