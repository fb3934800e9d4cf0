"""Keras -> ONNX (tf2onnx) -> zoo: a character LSTM trained in Keras, brought into the zoo.

TensorFlow is not a dependency of the zoo and CI does not run this file; it was run by hand on 2026-11-29 with
tensorflow-cpu 2.15.1 (Keras 2.15), tf2onnx 1.16.1 and Python 3.11 on 2 CPU cores, and the result brought in
with the command below: parity 1.4e-06 against model.predict, 2.229 nats/char on Tiny Shakespeare's validation
split after 300 steps (the Kneser-Ney baseline: 1.579; the zoo's shakespeare-lstm: 1.435).

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install "tensorflow-cpu==2.15.1" "tf2onnx==1.16.1" "numpy<2"
    /tmp/tf/bin/python zoo/docs/examples/keras_to_zoo.py --data $RNNZOO_DATA/tinyshakespeare/input.txt \
        --vocab zoo/artifacts/shakespeare-lstm/vocab.json --out /tmp/keras_lstm   # writes .onnx and _parity.npz
    python -m training.bring_your_own --onnx /tmp/keras_lstm.onnx --task generation --name keras-shakespeare-lstm \
        --tokenizer zoo/artifacts/shakespeare-lstm/vocab.json --parity /tmp/keras_lstm_parity.npz \
        --parity-source "keras 2.15 model.predict" --exporter "tf2onnx 1.16.1, opset 17" \
        --trained-on "Tiny Shakespeare first 90%, 300 steps" --license CC0-1.0 --batch-major-state h0,c0,hN,cN
"""
import argparse
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf2onnx

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True, help="Tiny Shakespeare input.txt")
parser.add_argument("--vocab", required=True, help="the zoo's vocab.json (zoo.tasks.generation.vocabulary.CharVocabulary)")
parser.add_argument("--out", required=True)
parser.add_argument("--hidden", type=int, default=128)
parser.add_argument("--steps", type=int, default=300)
args = parser.parse_args()

characters = json.loads(Path(args.vocab).read_text())["characters"]
index = {c: i for i, c in enumerate(characters)}
text = Path(args.data).read_text()
train = np.array([index[c] for c in text[: int(0.9 * len(text))]], dtype=np.int64)  # the zoo's split: first 90%
V, H = len(characters), args.hidden

# explicit state in and out, named as the zoo's generation contract names them
tokens = tf.keras.Input(shape=(None,), dtype="int64", name="tokens")
h0 = tf.keras.Input(shape=(H,), name="h0")
c0 = tf.keras.Input(shape=(H,), name="c0")
x = tf.keras.layers.Embedding(V, 64)(tokens)
y, h, c = tf.keras.layers.LSTM(H, return_sequences=True, return_state=True)(x, initial_state=[h0, c0])
logits = tf.keras.layers.Dense(V, name="logits")(y)
model = tf.keras.Model([tokens, h0, c0], [logits, tf.keras.layers.Identity(name="hN")(h),
                                          tf.keras.layers.Identity(name="cN")(c)])

optimizer = tf.keras.optimizers.Adam(2e-3)
rng = np.random.default_rng(0)
B, T = 32, 100
for step in range(args.steps):
    starts = rng.integers(0, len(train) - T - 1, B)
    batch = np.stack([train[s : s + T + 1] for s in starts])
    zeros = np.zeros((B, H), np.float32)
    with tf.GradientTape() as tape:
        out, _, _ = model([batch[:, :-1], zeros, zeros], training=True)
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(batch[:, 1:], out, from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    grads, _ = tf.clip_by_global_norm(grads, 1.0)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    if step % 100 == 0:
        print(f"step {step}: loss {float(loss):.3f}")

spec = (tf.TensorSpec((None, None), tf.int64, name="tokens"), tf.TensorSpec((None, H), tf.float32, name="h0"),
        tf.TensorSpec((None, H), tf.float32, name="c0"))
tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=f"{args.out}.onnx")

# parity vectors: what Keras computes, on a few sequences and random states, states as Keras shapes them
tokens_in = rng.integers(0, V, (2, 9)).astype(np.int64)
h_in, c_in = (0.5 * rng.standard_normal((2, 2, H))).astype(np.float32)
logits_out, h_out, c_out = model.predict([tokens_in, h_in, c_in], verbose=0)
np.savez(f"{args.out}_parity.npz", **{"input:tokens": tokens_in, "input:h0": h_in, "input:c0": c_in,
                                      "output:logits": logits_out, "output:hN": h_out, "output:cN": c_out})
print("wrote", f"{args.out}.onnx", f"{args.out}_parity.npz")
