"""CurveZMQ for the daemon: key files, and the ZAP authenticator with a client allow-list.

Layout written by `facecast keys generate DIR --name NAME` (pyzmq's certificate format):
``DIR/NAME.key`` (public, 0644) and ``DIR/NAME.key_secret`` (public + secret, 0600);
DIR is made 0700 when the command creates it (an existing DIR keeps its mode). The
daemon loads its ``.key_secret``; it accepts exactly the clients whose public ``.key``
files are in its allow-list directory, re-read when the folder changes (``allow_list``);
that folder holds public keys only. A client needs the daemon's public ``.key`` and its
own ``.key_secret``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from facecast.transport.allow_list import AllowList

log = logging.getLogger(__name__)


class CurveError(ValueError):
    """Missing, unreadable or malformed key material; the message says which file."""


def generate_keys(directory: str | Path, name: str = "server") -> tuple[Path, Path]:
    """Write a new key pair; returns (public file, secret file). Never overwrites."""
    out = Path(directory)
    if not name or "/" in name or name.startswith("."):
        raise CurveError(f"invalid key name {name!r}")
    public, secret = out / f"{name}.key", out / f"{name}.key_secret"
    for path in (public, secret):
        if path.exists():
            raise CurveError(f"{path} exists; remove it first or choose another --name")
    _make_private_dir(out)
    old_umask = os.umask(0o077)
    try:
        pub, sec = zmq.auth.create_certificates(out, name)
    finally:
        os.umask(old_umask)
    os.chmod(sec, 0o600)
    os.chmod(pub, 0o644)
    return Path(pub), Path(sec)


def _make_private_dir(directory: Path) -> None:
    """Create ``directory`` 0700 if it is missing. An existing one keeps its mode: it may be
    a shared folder (a sticky 1777 one, say) that is not ours to change; the secret file
    in it is 0600 whatever the folder's mode."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        if not directory.is_dir():
            raise CurveError(f"{directory} exists and is not a directory") from None
        return
    os.chmod(directory, 0o700)  # exactly 0700, whatever the umask


def load_secret(path: str | Path) -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys from a ``.key_secret`` file."""
    p = Path(path)
    try:
        public, secret = zmq.auth.load_certificate(p)
    except (OSError, ValueError) as exc:
        raise CurveError(f"cannot read CurveZMQ secret key {p}: {exc}") from None
    if not secret:
        raise CurveError(f"{p} holds no secret key (pass the .key_secret file, not the public .key)")
    if p.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; chmod 600 it", p)
    return public, secret


def load_public(path: str | Path) -> bytes:
    p = Path(path)
    try:
        public, _ = zmq.auth.load_certificate(p)
    except (OSError, ValueError) as exc:
        raise CurveError(f"cannot read CurveZMQ public key {p}: {exc}") from None
    return public


def secure_server(ctx: zmq.Context, socket: zmq.Socket, secret_file: str, clients_dir: str,
                  reload_s: float = 1.0) -> tuple[ThreadAuthenticator, AllowList]:
    """Make ``socket`` a CurveZMQ server that admits only the allow-listed clients. The
    authenticator asks the returned ``AllowList`` at every handshake; the caller polls it
    (``reload_s``: how often the folder is compared) and checks each message's sender."""
    allowed = Path(clients_dir)
    if not allowed.is_dir():
        raise CurveError(f"client allow-list directory {allowed} does not exist "
                         "(put the public .key file of every client allowed to connect there)")
    clients = AllowList(allowed, reload_s)
    if not len(clients):
        raise CurveError(f"client allow-list {allowed} has no .key files with a valid public key: "
                         "no client could connect")
    public, secret = load_secret(secret_file)
    auth = ThreadAuthenticator(ctx, log=logging.getLogger("facecast.transport.curve.zap"))
    auth.start()
    auth.configure_curve_callback(domain="*", credentials_provider=clients)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    log.info("CurveZMQ on: %d allowed client key(s) in %s", len(clients), allowed)
    return auth, clients


def secure_client(socket: zmq.Socket, server_public_file: str | Path, client_secret_file: str | Path) -> None:
    """Make ``socket`` a CurveZMQ client of the daemon whose public key is given."""
    public, secret = load_secret(client_secret_file)
    socket.curve_serverkey = load_public(server_public_file)
    socket.curve_publickey = public
    socket.curve_secretkey = secret
