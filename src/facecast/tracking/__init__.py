"""Pure numpy face-motion processing: the tracked face type, One Euro filtering, tracking
states and neutral calibration (driver), relative retargeting, head pose, the ARKit
blendshape basis and the procedural performance. No MediaPipe, OpenCV capture or ZeroMQ.
"""
