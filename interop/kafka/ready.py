"""Exit 0 once a Kafka broker at HOST:PORT answers a Metadata request listing
at least BROKERS live brokers; used by kafka.sh to return only once the cluster
accepts requests. Standard library only (no client package needed).

usage: python3 ready.py HOST:PORT BROKERS
"""

import socket
import struct
import sys


def metadata_brokers(addr, timeout=2.0):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        client = b"kafka.sh"
        # Metadata v1: header (api key 3, version 1, correlation id, client id),
        # body: topics = null (-1) -> no topics, just the brokers.
        body = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", 0)
        s.sendall(struct.pack(">i", len(body)) + body)
        head = recv_exact(s, 4)
        (size,) = struct.unpack(">i", head)
        resp = recv_exact(s, size)
    # correlation id, then the brokers array.
    (count,) = struct.unpack_from(">i", resp, 4)
    return count


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def main():
    addr, want = sys.argv[1], int(sys.argv[2])
    try:
        n = metadata_brokers(addr)
    except (OSError, ConnectionError, struct.error):
        sys.exit(1)
    sys.exit(0 if n >= want else 1)


if __name__ == "__main__":
    main()
