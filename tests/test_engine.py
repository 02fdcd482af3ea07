"""tie.engine.engine: the `compute` section read into an `Engine`; the local engine never
imports Ray."""

import subprocess
import sys

import yaml
from helpers import REPO

from tie.engine.engine import LOCAL, Engine, load_engine

COMPUTE = yaml.safe_load((REPO / "params.yaml").read_text())["compute"]  # the defaults

LOAD_LOCAL = """
import sys
from tie.engine.engine import load_engine
engine = load_engine(sys.argv[1])
with engine.session():
    pass
print(engine.on_ray, "ray" in sys.modules)
"""


def test_params_compute_section_becomes_an_engine(tmp_path):
    params = tmp_path / "params.yaml"
    compute = COMPUTE | {"engine": "ray", "num_cpus": 2}
    params.write_text(yaml.safe_dump({"compute": compute}))
    engine = load_engine(params)
    assert engine.on_ray and engine.compute.model_dump() == compute
    assert not LOCAL.on_ray and Engine() == LOCAL


def test_the_local_engine_never_imports_ray(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"compute": COMPUTE | {"engine": "local"}}))
    result = subprocess.run(
        [sys.executable, "-c", LOAD_LOCAL, str(params)], capture_output=True, text=True
    )
    assert result.stdout.split() == ["False", "False"], result.stderr[-2000:]
