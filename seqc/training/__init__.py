"""NumPy training: executor, losses, optimizers, initializers, metrics, callbacks, fit loop."""
