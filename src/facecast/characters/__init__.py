"""Characters: the on-disk store (enrollment from photos or videos, manifest, shots), the
head crop, the head matte, per-character neural assets, and ``CharacterAssets`` (what a
renderer receives of one character). Never imports the daemon or a renderer.
"""
