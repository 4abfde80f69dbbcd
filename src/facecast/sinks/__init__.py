"""Daemon-wide frame sinks: the contract and registry (base), the OBS overlay page and its
WebSocket feed, the virtual camera, the MJPEG stream.
"""
