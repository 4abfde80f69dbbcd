"""Renderers: landmarks + a prepared character -> RGBA frames. The contract and registry
(base), warp (no weights), neural (the few-shot model), copy and stamp (tests and
benchmarks). Never imports the daemon or ZeroMQ.
"""
