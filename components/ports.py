"""Free loopback ports: for the pusher's model-server check, and for tests and
benchmarks that start real worker processes."""
import socket
from typing import List


def free_ports(n: int) -> List[int]:
  """`n` distinct ports on 127.0.0.1 that were free a moment ago."""
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports
