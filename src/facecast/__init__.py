"""facecast: real-time talking-head avatar backend."""

__version__ = "0.1.0"
