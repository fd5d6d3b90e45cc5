"""WizPix: background removal served by BentoML (fast = rembg, pro = bare ONNX Runtime)."""

__version__ = "0.1.0"
