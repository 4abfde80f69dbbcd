"""`facecast bench`: figures, never pass/fail. Bridge, delivery, warp, render (engines), serve,
soak and tracker benchmarks, their processes, machine description and plots.
"""
