"""The `facecast` command and its applications: the CLI parser (cli), serve, demo, track/record/replay,
enroll/finetune, eval, export, model-info, dataset build, train, vmc, obs setup, bench.

The top layer: it may import every other subpackage; nothing imports it.
"""
