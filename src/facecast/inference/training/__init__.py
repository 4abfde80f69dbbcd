"""Training of the few-shot talking-head model (Zakharov et al. 2019).

- ``dataset_format``: the per-video ``.npz`` files and ``manifest.json``;
- ``episodes``: K + 1 frames of one video (K shots for the embedder, one target);
- ``ms_ssim``, ``vgg_features``, ``perceptual_weights``, ``content_loss``, ``losses``,
  ``objectives``: the losses;
- ``meta_step``, ``trainer``, ``preview``, ``train_cli``: the meta-learning stage
  (``facecast train``);
- ``finetune``: the few-shot fine-tuning of one character.

Training code imports the models, never the daemon (DESIGN §2). See docs/training.md.
"""
