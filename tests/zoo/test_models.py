"""zoo.models: the shared torch pieces of every network."""
import torch

from zoo.models import reverse_within_length


def test_reverse_within_length_keeps_padding_in_place_and_is_its_own_inverse():
    x = torch.arange(2 * 4).reshape(2, 4, 1).float()
    lengths = torch.tensor([4, 2])
    reversed_x = reverse_within_length(x, lengths)
    assert reversed_x[..., 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]
    assert torch.equal(reverse_within_length(reversed_x, lengths), x)
