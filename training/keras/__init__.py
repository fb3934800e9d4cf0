"""The Keras 3 track: models trained with Keras' own model.fit, exported to ONNX and brought into the zoo by
training.bring_your_own, parity checked against Keras' model.predict (zoo/docs/bring-your-own-model.md).

Keras runs on its torch backend unless KERAS_BACKEND says otherwise, so the track needs `keras` and the torch the
zoo trains with, not TensorFlow. Keras reads the variable when it is first imported; Python runs this file before
any module of the package, so setting it here comes first.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")
