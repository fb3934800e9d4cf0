"""ONNX export of every cell type: native ops, dynamic shapes, parity with torch, padding invariance."""
import numpy as np
import onnx
import pytest
import torch

from training.sentiment.export import export_onnx
from zoo import create_model
from zoo.models import reverse_within_length
from zoo.artifacts import create_session

CELLS = ["rnn", "lstm", "gru"]
NATIVE_OP = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def exported(cell, tmp_path):
    torch.manual_seed(0)
    model = create_model(f"test-sst2-{cell}", pretrained_dim=12).eval()
    model.fold_embedding(torch.float16)
    path = tmp_path / f"{cell}.onnx"
    export_onnx(model, path)
    return model, path


def random_batch(batch_size, max_length, seed):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_length + 1, (batch_size,), generator=generator)
    lengths[0] = max_length
    token_ids = torch.randint(1, 30522, (batch_size, max_length), generator=generator)
    token_ids[torch.arange(max_length).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
    return token_ids, lengths


@pytest.mark.parametrize("cell", CELLS)
def test_export_uses_the_native_recurrent_op(cell, tmp_path):
    _, path = exported(cell, tmp_path)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert NATIVE_OP[cell] in ops


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch_size, max_length", [(1, 1), (5, 13), (33, 64)])
def test_onnxruntime_matches_torch_at_shapes_unlike_the_export_sample(cell, batch_size, max_length, tmp_path):
    model, path = exported(cell, tmp_path)
    token_ids, lengths = random_batch(batch_size, max_length, seed=batch_size)
    session = create_session(path.read_bytes(), ["CPUExecutionProvider"])
    (onnx_logits,) = session.run(["logits"], {"token_ids": token_ids.numpy(), "lengths": lengths.numpy()})
    with torch.no_grad():
        torch_logits = model(token_ids, lengths).numpy()
    assert onnx_logits.shape == (batch_size, 2)
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", CELLS)
def test_a_text_scores_the_same_alone_and_in_a_padded_batch(cell, tmp_path):
    """Right padding plus in-length reversal: batch-mates never change a text's logits."""
    _, path = exported(cell, tmp_path)
    session = create_session(path.read_bytes(), ["CPUExecutionProvider"])
    token_ids, lengths = random_batch(6, 20, seed=7)
    (batched,) = session.run(["logits"], {"token_ids": token_ids.numpy(), "lengths": lengths.numpy()})
    for row in range(6):
        n = int(lengths[row])
        (alone,) = session.run(["logits"], {"token_ids": token_ids[row : row + 1, :n].numpy(),
                                            "lengths": lengths[row : row + 1].numpy()})
        np.testing.assert_allclose(batched[row], alone[0], atol=1e-5, rtol=0)


def test_reverse_within_length_keeps_padding_in_place_and_is_its_own_inverse():
    x = torch.arange(2 * 4).reshape(2, 4, 1).float()
    lengths = torch.tensor([4, 2])
    reversed_x = reverse_within_length(x, lengths)
    assert reversed_x[..., 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]
    assert torch.equal(reverse_within_length(reversed_x, lengths), x)


def test_folding_the_projection_keeps_the_function(tmp_path):
    torch.manual_seed(0)
    model = create_model("test-sst2-gru", pretrained_dim=12).eval()
    token_ids, lengths = random_batch(4, 9, seed=3)
    with torch.no_grad():
        before = model(token_ids, lengths)
        model.fold_embedding(torch.float32)
        after = model(token_ids, lengths)
    assert model.projection is None and model.embedding.weight.shape == (30522, 8)
    torch.testing.assert_close(before, after, atol=1e-5, rtol=0)
