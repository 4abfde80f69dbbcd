"""The Python client side of the wire: ``Client`` (hello, bind, poses, frames), the
shared-memory ring reader, and ``PoseLink`` (a tracker's pipelined connection).

Imports protocol, transport and core only; never the daemon.
"""

from facecast.client.client import Client, ClientTimeout, FacecastError, ReceivedFrame

__all__ = ["Client", "ClientTimeout", "FacecastError", "ReceivedFrame"]
