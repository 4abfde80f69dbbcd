"""Small leaves shared by every layer: landmark topology (MediaPipe 478 parts, iBUG-68),
frame pixel codecs (OpenCV), file hashing. They import only ``facecast.protocol``.
"""
