"""What runs in a runner process: the model slot, one class per kind of model, their
tensors and metrics. Never imports the front or the image package."""
