#!/usr/bin/env python3
"""`kafka-broker-api-versions.sh --bootstrap-server HOST:PORT`: exit 0 when the broker answers an ApiVersions
request (v0) without error."""
import socket
import struct
import sys

host, port = sys.argv[sys.argv.index("--bootstrap-server") + 1].rsplit(":", 1)
client = b"standin"
body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
with socket.create_connection((host, int(port)), timeout=5) as s:
    s.sendall(struct.pack(">i", len(body)) + body)
    reply = s.recv(4096)
size, correlation, error = struct.unpack(">iih", reply[:10])
sys.exit(0 if correlation == 1 and error == 0 else 1)
