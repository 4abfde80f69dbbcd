"""The daemon: ZeroMQ transport and lifecycle (daemon), sessions, the latest-wins scheduler,
the render worker, loaded characters, stats, the shared-memory ring writer and blendshape
input. The only package that runs the wire protocol on the serving side.
"""
