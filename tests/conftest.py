import os

# Keras 3 cross-checks run on the torch backend (CPU); TensorFlow is never needed.
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("OMP_NUM_THREADS", "2")
