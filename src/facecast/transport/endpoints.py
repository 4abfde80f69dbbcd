"""Which addresses the daemon may bind (DESIGN §6): loopback TCP and ipc:// always; any
other interface only with CurveZMQ on, so nothing silently opens a port on a LAN."""

from __future__ import annotations

import ipaddress


class EndpointError(ValueError):
    pass


def check_bind_endpoint(endpoint: str, curve: bool = False) -> str:
    """Validate ``endpoint``; returns it with a port of 0 turned into ZeroMQ's ``*``.
    Non-loopback hosts are accepted only when ``curve`` (CurveZMQ) is on."""
    scheme, sep, rest = endpoint.partition("://")
    if not sep:
        raise EndpointError(f"endpoint {endpoint!r} must look like tcp://127.0.0.1:5555 or ipc:///tmp/facecast.sock")
    if scheme in ("ipc", "inproc"):
        if not rest:
            raise EndpointError(f"endpoint {endpoint!r} needs a path")
        return endpoint
    if scheme != "tcp":
        raise EndpointError(f"endpoint scheme {scheme!r} not supported; use tcp:// or ipc://")
    host, colon, port = rest.rpartition(":")
    if not colon or not port:
        raise EndpointError(f"endpoint {endpoint!r} needs a port (use 0 for a free one)")
    host = host.strip("[]")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback and not curve:
            raise EndpointError(
                f"refusing to bind {endpoint!r} without CurveZMQ: other interfaces than loopback (127.0.0.1, "
                "::1, localhost) and ipc:// need authentication. Run `facecast keys generate KEYDIR` for the "
                "daemon, and on each client `facecast keys generate CLIENTKEYS --name CLIENT` (its secret "
                "key stays there); copy only the public CLIENTKEYS/CLIENT.key into KEYDIR/clients (the "
                "allow-list holds client public keys only), then start with "
                "--curve-secret-key KEYDIR/server.key_secret --curve-clients KEYDIR/clients"
            )
    if port in ("0", "*"):
        port = "*"
    elif not port.isdigit() or not 0 < int(port) < 65536:
        raise EndpointError(f"endpoint {endpoint!r}: port must be 1-65535, 0 or *")
    if host == "localhost":
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"tcp://{host}:{port}"
