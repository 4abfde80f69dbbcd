"""Training of the few-shot talking-head model (Zakharov et al. 2019).

- ``dataset_format``: the per-video ``.npz`` files and ``manifest.json``;
- ``episodes``: K + 1 frames of one video (K shots for the embedder, one target);
- ``ms_ssim``, ``vgg_features``, ``perceptual_weights``, ``content_loss``, ``losses``,
  ``objectives``: the losses;
- ``meta_step``, ``trainer``, ``preview``: the meta-learning stage (``facecast train``);
- ``finetune``: the few-shot fine-tuning of one character; ``character_fit``: a character's
  embedding, AdaIN parameters and optional fine-tuning (``facecast enroll --checkpoint``);
- ``dataset_build``: videos -> a training data set (``facecast dataset build``).

Training code imports the models, characters (crop, matte) and capture, never the daemon.
See docs/training.md.
"""
