"""Training the upper layers on cached outputs of the frozen lower ones gives the same network
as running the whole encoder, and updates the full encoder in place."""

import pytest
import torch
from transformers import BertConfig, BertModel
from triage.train.layer_cache import CachedDataset, collate_cached, hidden_states, split_encoder


@pytest.fixture
def encoder() -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32
    )
    return BertModel(config, add_pooling_layer=False).eval()


def _encoded(lengths: list[int]) -> list[dict]:
    return [
        {"input_ids": list(range(2, 2 + n)), "cause_labels": n % 7, "troll_labels": n % 2} for n in lengths
    ]


def test_top_of_cached_bottom_equals_the_full_encoder_with_padding(encoder):
    encoded = _encoded([5, 2, 9, 3])
    bottom, top = split_encoder(encoder, 2)
    batch = collate_cached(list(CachedDataset(encoded, hidden_states(bottom, encoded, batch_size=3))))
    cached = top(
        inputs_embeds=batch["inputs_embeds"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    for row, example in enumerate(encoded):
        n = len(example["input_ids"])
        alone = encoder(input_ids=torch.tensor([example["input_ids"]])).last_hidden_state[0]
        assert torch.allclose(cached[row, :n], alone, atol=1e-5)
    assert batch["attention_mask"].sum(1).tolist() == [5, 2, 9, 3]
    assert batch["cause_labels"].tolist() == [5, 2, 2, 3]


def test_training_the_top_view_changes_only_the_upper_layers_of_the_encoder(encoder):
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    _, top = split_encoder(encoder, 2)
    states = torch.randn(2, 4, 16)
    top.train()
    top(
        inputs_embeds=states, attention_mask=torch.ones(2, 4, dtype=torch.long)
    ).last_hidden_state.sum().backward()
    torch.optim.SGD(top.parameters(), lr=0.1).step()
    after = encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("encoder.layer.2."))
    assert not torch.equal(
        before["encoder.layer.2.output.dense.weight"], after["encoder.layer.2.output.dense.weight"]
    )


@pytest.mark.parametrize("layers", [0, 3])
def test_the_split_needs_layers_on_both_sides(encoder, layers):
    with pytest.raises(ValueError, match="frozen layers must be between 1 and 2"):
        split_encoder(encoder, layers)


def test_the_top_view_refuses_token_ids(encoder):
    _, top = split_encoder(encoder, 1)
    with pytest.raises(ValueError, match="hidden states"):
        top(input_ids=torch.tensor([[2, 3]]))
