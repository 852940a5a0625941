"""Mobile packaging: TFLite metadata, app-ready models, GPU-delegate check, Core ML export."""
