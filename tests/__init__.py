"""Test suite (a package, so tests can import helpers such as ``tests.parity.torch_prroi_pool``)."""
