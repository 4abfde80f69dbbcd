"""ZeroMQ transport security shared by client and daemon: CurveZMQ keys and the ZAP
allow-list (curve), which endpoints the daemon may bind (endpoints).
"""
