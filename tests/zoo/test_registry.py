import pytest

from zoo import UnknownModelError, create_model, get_spec, list_models
from zoo.models import RecurrentCore
from zoo.tasks import TASKS


def test_shipped_sentiment_models_are_listed():
    assert list_models("sentiment") == ["sst2-gru", "sst2-lstm", "sst2-lstm-int8", "sst2-rnn"]
    assert set(list_models()) >= set(list_models("sentiment"))


def test_test_variants_are_hidden_unless_asked_for():
    assert not any(name.startswith("test-") for name in list_models())
    assert "test-sst2-gru" in list_models(shipped=None)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UnknownModelError) as error:
        get_spec("sst2-transformer")
    message = str(error.value)
    assert "sst2-transformer" in message and "sst2-lstm" in message and "sst2-gru" in message


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="tasks are"):
        list_models("summarisation")


@pytest.mark.parametrize("task", TASKS)
def test_every_task_registers_all_three_cells(task):
    # The shipped fp32 models: a variant tried and not kept (digits-bigru) is registered beside them.
    names = [n for n in list_models(task) if get_spec(n).quantized_from is None]
    cells = sorted(get_spec(name).arguments["cell"] for name in names)  # each cell once per data set
    assert cells and cells == sorted(["gru", "lstm", "rnn"] * (len(cells) // 3))


def test_int8_variants_share_their_source_architecture():
    quantized = [n for n in list_models() if get_spec(n).quantized_from]
    assert quantized == ["jsb-lstm-int8", "nottingham-lstm-int8", "shakespeare-lstm-int8", "sst2-lstm-int8",
                         "vitals-lstm-int8"]
    for name in quantized:
        source = get_spec(get_spec(name).quantized_from)
        assert (get_spec(name).architecture, get_spec(name).arguments) == (source.architecture, source.arguments)


@pytest.mark.parametrize("name", list_models(shipped=None))
def test_every_variant_builds_with_its_cell(name):
    cores = [m for m in create_model(name).modules() if isinstance(m, RecurrentCore)]
    assert cores and {core.cell for core in cores} == {get_spec(name).arguments["cell"]}


def test_overrides_replace_arguments():
    model = create_model("test-sst2-lstm", hidden_size=5, bidirectional=False)
    assert model.forward_core.hidden_size == 5 and model.backward_core is None
