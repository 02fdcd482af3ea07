import pytest

from tie.errors import TieError
from tie.params import check_choices, flatten, load_params


def test_unknown_names_fail_with_the_list_of_valid_names():
    good = {"dataset": "demo", "text": "glove", "image": "colorgrid"}
    check_choices(good)
    with pytest.raises(TieError, match=r"unknown text 'nope'.*glove, word2vec_local"):
        check_choices(good | {"text": "nope"})
    with pytest.raises(TieError, match=r"unknown image 'vgg'.*colorgrid"):
        check_choices(good | {"image": "vgg"})
    with pytest.raises(TieError, match=r"has no `dataset`"):
        check_choices({"text": "glove", "image": "colorgrid"})


def test_the_repository_params_are_valid():
    params = load_params("params.yaml")
    assert (params["dataset"], params["text"], params["image"]) == ("demo", "glove", "colorgrid")


def test_flatten_joins_sections_with_dots():
    assert flatten({"a": 1, "cca": {"reg": 0.1, "ks": [1, 5]}}) == {
        "a": "1",
        "cca.reg": "0.1",
        "cca.ks": "[1, 5]",
    }
