"""Quality evaluation of the renderers: self-reenactment (`facecast eval`)."""
