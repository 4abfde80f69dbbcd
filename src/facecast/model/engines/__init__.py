"""Runtime engines for the generator: ``torch`` (the reference) and ``onnx`` (ONNX Runtime),
behind one contract (``base.Engine``, built with ``base.create_engine``), plus the ONNX
export and its manifest. See docs/engines.md.

Kept free of imports: ``facecast export --help`` loads neither torch nor onnxruntime.
"""
