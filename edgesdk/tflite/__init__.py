"""TFLite models on the host: flatbuffer inspection, the LiteRT runner, TFLite Micro, fidelity."""
