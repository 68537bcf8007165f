"""Free loopback ports for tests and benchmarks that start real worker processes
(the helper lives in components/ports.py, which the pusher uses too)."""
from components.ports import free_ports  # pylint: disable=unused-import
