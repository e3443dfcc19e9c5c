"""The preprocessing job: catalogue JSON -> HDF5 image store, with Apache Beam and TensorFlow Transform.

Importing this package is cheap: Beam and TensorFlow are imported by the modules that need them.
"""
