"""The neural model: networks (rasterizer, embedder, generator, discriminator, configs,
checkpoints), the loaded inference model (``neural_model.NeuralModel``) and the generator's
runtime engines (torch, ONNX Runtime) with ONNX export. torch, no I/O beyond checkpoints.
"""
