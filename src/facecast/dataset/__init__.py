"""Training data sets built from videos (``facecast dataset build``).

A pipeline layer: it runs the tracker and the head crop of the character store over
video files and writes the files that :mod:`facecast.inference.training` reads. It sits
outside ``facecast.inference`` because inference code may not import the tracker
(DESIGN §2).
"""
