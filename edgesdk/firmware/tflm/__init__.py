"""The TFLite Micro engine: the model as a C array for the TFLite Micro interpreter, its op
resolver and arena size, verified on TFLite Micro; firmware built against a TFLite Micro library."""
