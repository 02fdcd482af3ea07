"""params.yaml's schema: every bad value is one line (dotted name, value, what is allowed),
found by `tie check` and by every stage before it does any work."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import new_project, run
from pydantic import ValidationError

from tie.config.params import check_params, flatten, load_params, read_params
from tie.config.schema import Cca
from tie.errors import TieError
from tie.results.cli import main

REPO = Path(__file__).resolve().parents[1]


def with_value(name, value, **more):
    """The repository's params with dotted param `name` set to `value`."""
    params = read_params(REPO / "params.yaml")
    for dotted, new in {name: value, **more}.items():
        *sections, key = dotted.split(".")
        section = params
        for part in sections:
            section = section[part]
        section[key] = new
    return params


def tie_check(tmp_path, params):
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump(params, sort_keys=False))
    result = CliRunner().invoke(main, ["check", str(file)])
    return result.exit_code, result.output.replace(str(file), "params.yaml")


BAD = [
    ("cca.reg", "abc", "cca.reg = 'abc': must be a number >= 0 (e.g. 0.001)"),
    ("cca.reg", -0.1, "cca.reg = -0.1: must be a number >= 0"),
    ("cca.reg", [0.1, "x"], "cca.reg = [0.1, 'x']: must be a number >= 0"),
    ("cca.reg", [], "cca.reg = []: must be a number >= 0 (e.g. 0.001), or a non-empty list"),
    ("cca.n_components", True, "cca.n_components = True: must be an integer from 1 to 10000"),
    ("cca.n_components", 0, "cca.n_components = 0: must be an integer from 1 to 10000"),
    ("cca.n_components", 2.5, "cca.n_components = 2.5: must be an integer from 1 to 10000"),
    ("cca.scale_power", float("nan"), "cca.scale_power = nan: must be a finite number"),
    ("cca.scale_power", float("inf"), "cca.scale_power = inf: must be a finite number"),
    ("eval.ks", [0], "eval.ks = [0]: must be a non-empty list of distinct integers >= 1"),
    ("eval.ks", [], "eval.ks = []: must be a non-empty list of distinct integers >= 1"),
    ("eval.ks", [5, 5], "eval.ks = [5, 5]: must be a non-empty list of distinct integers"),
    (
        "eval.ks",
        [1000],
        "eval.ks = [1000]: every K must be at most 200, the number of test images (demo.n_test);"
        " lower eval.ks to [200] or raise demo.n_test to 1000",
    ),
    ("eval.split", "dev", "eval.split = 'dev': must be one of: train, val, test"),
    ("eval.curve_max_k", 0, "eval.curve_max_k = 0: must be an integer from 1 to"),
    ("eval.memory_budget_mb", 0, "eval.memory_budget_mb = 0: must be a number > 0"),
    ("eval.bootstrap.n", -1, "eval.bootstrap.n = -1: must be an integer from 0 to 100000"),
    ("eval.bootstrap.n", 10**6, "eval.bootstrap.n = 1000000: must be an integer from 0 to"),
    ("eval.bootstrap.seed", 0.5, "eval.bootstrap.seed = 0.5: must be an integer from 0 to"),
    ("demo.n_test", 0, "demo.n_test = 0: must be an integer from 2 to 100000"),
    ("demo.n_test", 1, "demo.n_test = 1: must be an integer from 2 to 100000"),
    ("demo.image_size", 8, "demo.image_size = 8: must be an integer from 32 to 1024"),
    (
        "caption_vectors.word_scaling",
        "bogus",
        "caption_vectors.word_scaling = 'bogus': must be one of: none, inverse_squared_norm",
    ),
    ("caption_vectors.idf", "yes", "caption_vectors.idf = 'yes': must be true or false"),
    ("tokenizer.stop_words", "french", "tokenizer.stop_words = 'french': must be one of"),
    ("backbone.crops", 3, "backbone.crops = 3: must be 1 (whole image) or 10"),
    ("backbone.batch_size", 0, "backbone.batch_size = 0: must be an integer from 1 to 4096"),
    ("raw.max_missing_fraction", 2, "raw.max_missing_fraction = 2: must be a number from 0 to 1"),
    ("text", "nope", "text = 'nope': must be one of: glove, word2vec_local"),
    ("image", "vgg", "image = 'vgg': must be one of: colorgrid, vgg19"),
    ("split", "karpathy", "split = 'karpathy': dataset demo has the split(s): official"),
    (
        "cca.foo",
        1,
        "unknown param cca.foo; section `cca` has: method, n_components, reg, scale_power",
    ),
    ("cca.method", "pca", "cca.method = 'pca': must be one of: cca (fit on train), none"),
    (
        "cca.method",
        "none",
        "cca.method = 'none': the zero-shot row compares the image and text embeddings of one"
        " model, but image colorgrid and text glove are not one model's towers",
    ),
    ("clip.dtype", "float16", "clip.dtype = 'float16': must be one of: float32, bfloat16"),
    ("siglip.batch_size", 0, "siglip.batch_size = 0: must be an integer from 1 to 4096"),
    ("clip.preset", "", "clip.preset = '': must be a KerasHub preset name"),
    ("cca", 3, "cca = 3: must be a section of `key: value` lines"),
    (
        "eval.scoring",
        "softmax",
        "eval.scoring = 'softmax': must be one of: cosine, inverted_softmax",
    ),
    ("eval.hubness.beta", 0, "eval.hubness.beta = 0: must be a number > 0 and <= 1000"),
    ("eval.hubness.beta", [], "eval.hubness.beta = []: must be a number > 0 and <= 1000"),
    ("eval.hubness.activation_k", 0.5, "eval.hubness.activation_k = 0.5: must be an integer"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_tie_check_names_the_param_its_value_and_what_is_allowed(tmp_path, name, value, message):
    code, output = tie_check(tmp_path, with_value(name, value))
    assert code == 1
    assert output.startswith(f"Error: params.yaml: {message}"), output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output


def test_a_hubness_aware_scoring_needs_its_params_and_banks_from_another_split(tmp_path):
    assert tie_check(tmp_path, with_value("eval.scoring", "csls"))[0] == 0
    code, output = tie_check(
        tmp_path, with_value("eval.scoring", "csls", **{"eval.split": "train"})
    )
    assert code == 1 and "eval.scoring = 'csls': its banks come from the train split" in output
    params = with_value("eval.scoring", "qb_norm")
    del params["eval"]["hubness"]
    code, output = tie_check(tmp_path, params)
    assert code == 1 and output.strip().endswith(
        "eval.scoring = 'qb_norm': needs section eval.hubness (its params: eval.hubness.beta,"
        " eval.hubness.activation_k)"
    )
    params = with_value("eval.split", "test")  # a params file from before eval.scoring: cosine
    del params["eval"]["scoring"], params["eval"]["hubness"]
    assert tie_check(tmp_path, params)[0] == 0


def test_limits_come_from_the_dataset_protocol(tmp_path):
    coco = {"dataset": "coco", "split": "karpathy"}
    assert tie_check(tmp_path, with_value("eval.ks", [1, 5000], **coco))[0] == 0
    code, output = tie_check(tmp_path, with_value("eval.ks", [5001], **coco))
    assert output.strip().endswith(
        "every K must be at most 5000, the number of test images (coco, karpathy split);"
        " lower eval.ks to [5000]"
    )
    code, output = tie_check(tmp_path, with_value("eval.ks", [300], **{"eval.split": "val"}))
    assert "at most 200, the number of val images (demo.n_val)" in output


def test_a_missing_param_and_an_unknown_section_are_named(tmp_path):
    params = with_value("eval.ks", [1])
    del params["eval"]["ks"]
    assert "eval.ks is missing: it must be a non-empty list" in tie_check(tmp_path, params)[1]
    params = with_value("eval.ks", [1]) | {"fishr": {"k": 3}}
    assert "unknown param fishr; params.yaml has: dataset, split" in tie_check(tmp_path, params)[1]


def test_a_setting_with_no_effect_is_a_note_not_an_error(tmp_path):
    code, output = tie_check(tmp_path, with_value("backbone.crops", 10))
    assert code == 0
    assert "note: backbone.crops = 10 has no effect with image colorgrid" in output
    assert tie_check(tmp_path, with_value("backbone.crops", 10, image="vgg19")) == (
        0,
        "params.yaml is valid\n",
    )
    _, output = tie_check(tmp_path, with_value("caption_vectors.idf", True, text="clip"))
    assert "note: caption_vectors has no effect with text clip" in output
    # The default pooling (Fisher vectors) with a sentence encoder: `-S text=clip` just works.
    code, output = tie_check(tmp_path, with_value("caption_vectors.pooling", "fisher", text="clip"))
    assert code == 0 and "note: caption_vectors has no effect with text clip" in output


def test_fisher_pooling_is_for_word_vectors_and_a_pretrained_sample_needs_a_table(tmp_path):
    fisher = {"caption_vectors.pooling": "fisher"}
    # A sentence encoder embeds whole captions: the pooling does not apply (a note).
    code, output = tie_check(tmp_path, with_value("text", "clip", **fisher))
    assert code == 0 and "note: caption_vectors has no effect with text clip" in output
    sample = {"fisher.fit_on": "pretrained_sample", **fisher}
    code, output = tie_check(tmp_path, with_value("text", "word2vec_local", **sample))
    assert code == 1 and len(output.strip().splitlines()) == 1, output
    assert output.startswith(
        "Error: params.yaml: fisher.fit_on = 'pretrained_sample': text word2vec_local has no"
        " pretrained vocabulary to sample"
    ), output
    for text in ("glove", "word2vec"):
        assert tie_check(tmp_path, with_value("text", text, **sample))[0] == 0
    # With mean pooling the fisher section is not used: nothing to refuse.
    mean = {"caption_vectors.pooling": "mean", "fisher.fit_on": "pretrained_sample"}
    unused = with_value("text", "word2vec_local", **mean)
    assert tie_check(tmp_path, unused)[0] == 0
    assert tie_check(tmp_path, with_value("text", "siglip"))[0] == 0


def test_the_repository_params_pass_tie_check_in_a_fresh_process():
    result = subprocess.run(
        [Path(sys.executable).parent / "tie", "check"], cwd=REPO, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout) == (0, "params.yaml is valid\n"), result.stderr


def test_params_are_read_as_dvc_reads_them_yaml_1_2(tmp_path):
    file = tmp_path / "params.yaml"
    default = "reg: [0.001, 0.01, 0.1]"
    assert default in (REPO / "params.yaml").read_text()
    file.write_text((REPO / "params.yaml").read_text().replace(default, "reg: [1e-4, 1e-3]"))
    assert read_params(file)["cca"]["reg"] == [1e-4, 1e-3]
    assert CliRunner().invoke(main, ["check", str(file)]).exit_code == 0


def test_invalid_yaml_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("cca: [1\n")
    result = CliRunner().invoke(main, ["check", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1 and "is not valid YAML (line" in result.output


def test_load_params_returns_the_sections_asked_for_typed_as_written():
    loaded = load_params("cca", path=REPO / "params.yaml")
    assert isinstance(loaded.cca, Cca) and loaded.model_dump() == {"cca": read_params()["cca"]}
    custom = read_params()["custom"]
    loaded = load_params("custom.images", "custom.captions", path=REPO / "params.yaml")
    assert loaded.model_dump() == {
        "custom": {"images": custom["images"], "captions": custom["captions"]}
    }
    with pytest.raises(AttributeError, match="params custom.split_seed was not loaded"):
        loaded.custom.split_seed  # noqa: B018
    with pytest.raises(AttributeError, match="params cca was not loaded"):
        loaded.cca  # noqa: B018
    with pytest.raises(ValidationError, match="frozen"):
        load_params("cca", path=REPO / "params.yaml").cca.reg = 1.0
    with pytest.raises(TieError, match=r"cca.reg = 'abc'"):
        check_params(with_value("cca.reg", "abc"))


def test_a_number_is_typed_as_written(tmp_path):
    """A float param keeps an integer as written (what a stage records is what params.yaml
    says); the schema still refuses a bool or a string there."""
    params = read_params(REPO / "params.yaml")
    params["eval"] = params["eval"] | {"memory_budget_mb": 256}
    params["cca"] = params["cca"] | {"reg": [1, 0.5], "scale_power": 2}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    loaded = load_params("eval", "cca", path=path)
    assert type(loaded.eval.memory_budget_mb) is int and loaded.eval.memory_budget_mb == 256
    assert [type(v) for v in loaded.cca.reg] == [int, float] and type(loaded.cca.scale_power) is int
    with pytest.raises(TieError, match=r"eval.memory_budget_mb = True: must be a number > 0"):
        check_params(params | {"eval": params["eval"] | {"memory_budget_mb": True}})


def test_load_params_gives_only_the_declared_keys_of_a_section():
    fisher = read_params()["fisher"]
    loaded = load_params("fisher.mixture", "fisher.seed", "text", path=REPO / "params.yaml")
    assert loaded.model_dump() == {
        "fisher": {"mixture": fisher["mixture"], "seed": fisher["seed"]},
        "text": read_params()["text"],
    }
    with pytest.raises(ValueError, match="no section"):
        load_params("fisher.nope", path=REPO / "params.yaml")


def stage_sections(script):
    """The string arguments of every `load_params(...)` call in a stage script."""
    calls = [
        node
        for node in ast.walk(ast.parse(script.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_params"
    ]
    assert all(call.args for call in calls), f"{script}: load_params(<sections>)"
    return {arg.value for call in calls for arg in call.args}


def test_each_stage_reads_exactly_the_params_it_declares_in_dvc_yaml():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        words = stage["cmd"].split()
        script = REPO / words[words.index("python") + 1]
        assert stage_sections(script) == set(stage.get("params", [])), name


def test_flatten_joins_sections_with_dots():
    assert flatten({"a": 1, "cca": {"reg": 0.1, "ks": [1, 5]}}) == {
        "a": "1",
        "cca.reg": "0.1",
        "cca.ks": "[1, 5]",
    }


@pytest.fixture(scope="module")
def fresh_project(tmp_path_factory):
    """A clone-like copy, committed, with no stage ever run."""
    return new_project(tmp_path_factory.mktemp("project"))


@pytest.mark.slow  # four `dvc exp run`, a few seconds each
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("eval.ks=[1000]", "eval.ks = [1000]: every K must be at most 200"),
        ("cca.n_components=true", "cca.n_components = True: must be an integer from 1 to 10000"),
        ("cca.method=none", "cca.method = 'none': the zero-shot row compares the image and"),
        (
            "fisher.fit_on=pretrained_sample text=word2vec_local",
            "fisher.fit_on = 'pretrained_sample': text word2vec_local has no pretrained",
        ),
    ],
)
def test_dvc_exp_run_stops_before_any_stage_works(fresh_project, setting, message):
    run(["git", "checkout", "--", "params.yaml"], fresh_project)  # a failed run leaves its -S
    options = [word for each in setting.split() for word in ("-S", each)]
    code, output = run(["dvc", "exp", "run", *options], fresh_project, check=False)
    assert code != 0
    assert f"Error: params.yaml: {message}" in output
    assert "Traceback" not in output
    assert not (fresh_project / "data" / "raw" / "demo").exists()  # the first stage did nothing
    assert not (fresh_project / "dvc.lock").exists()


def test_params_yaml_survives_dvc_exp_run_s_round_trip_byte_for_byte():
    """`dvc exp run -S` rewrites params.yaml through DVC's YAML round trip: the file as
    committed is what that writes (`input_size:` for null, '' quotes), so setting a value
    back leaves no diff against HEAD."""
    from dvc.utils.serialize._yaml import dumps_yaml, parse_yaml_for_update

    text = (REPO / "params.yaml").read_text()
    assert dumps_yaml(parse_yaml_for_update(text, "params.yaml")) == text


def params_lookups(path: Path) -> list[str]:
    """`file:line` of each look-up of a param by string in `path`: `params["cca"]`,
    `cca_params.get("reg", 1)`, `read_params()["cca"]`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            target = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            target = node.func.value
        else:
            continue
        if isinstance(target, ast.Call):  # read_params(...)["cca"]
            target = target.func
        name = target.id if isinstance(target, ast.Name) else ""
        if name == "params" or name.endswith(("_params", "load_params")):
            found.append(f"{path}:{node.lineno}")
    return found


def test_params_are_typed_outside_the_config_package(tmp_path):
    """Outside `tie.config`, a step reads params as attributes of the typed sections it is
    given (`params.cca.reg`), never by string from a dict: a rule or a default the schema
    holds is then never written a second time."""
    sources = [*(REPO / "src/tie").rglob("*.py"), *(REPO / "stages").glob("*.py")]
    config = REPO / "src/tie/config"
    found = [hit for path in sources if config not in path.parents for hit in params_lookups(path)]
    assert found == [], f"params looked up by string: {found}"
    # the scan sees such a look-up
    probe = tmp_path / "probe.py"
    probe.write_text(
        'reg = params["cca"]["reg"]\ncca = read_params()["cca"]\nn = cca_params.get("n", 1)\n'
    )
    assert sorted(hit.rpartition(":")[2] for hit in params_lookups(probe)) == ["1", "2", "3"]
