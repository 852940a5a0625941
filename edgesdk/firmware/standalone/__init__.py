"""The standalone C engine: a .tflite compiled ahead of time to plain C99 kernels, no interpreter."""
