"""Face input from the outside world: MediaPipe FaceLandmarker on stills, videos and live
streams, cameras and video files, the face model file, pose recordings, VMC (OSC) input,
and fitting the blendshape basis from tracked video. Produces ``tracking.face`` values.
"""
