"""Hostile inputs (issue 21): nothing read from outside its folder, no corrupt or cut input
accepted silently, no unbounded expansion or echo, every failure one line."""

import hashlib
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from helpers import REPO, copy_project, run, stage_params
from require import require_module
from webdataset_shards import SECTION, write_shards

from tie.config.params import check_params, read_params
from tie.config.schema import Webdataset, shard_count
from tie.corpus.corpus import Corpus
from tie.corpus.flickr8k import read_flickr8k_layout
from tie.corpus.karpathy import read_karpathy_json
from tie.corpus.webdataset import read_webdataset
from tie.datasets.custom import copy_custom
from tie.datasets.demo import make_demo_example
from tie.datasets.kinds import dataset_kind
from tie.datasets.webdataset import expand_braces, prepare_webdataset
from tie.errors import TieError
from tie.evaluation.tracking import failure_message
from tie.features.store import create_features, load_features, load_image_features, save_features
from tie.raw.captions_file import hash_split, read_caption_rows, split_counts
from tie.raw.layout import Flickr8kLayout, image_sources
from tie.raw.names import name_problem
from tie.results.cli import main

CUSTOM = {"val_fraction": 0.1, "test_fraction": 0.1, "split_seed": 0, "same_picture": "one_split"}


def images_folder(folder, n=6):
    folder.mkdir(parents=True)
    for index in range(n):
        make_demo_example(3, index, 32).image.save(folder / f"img{index}.png")
    return folder


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# 1. Image names stay inside the images folder, for every reader.


@pytest.mark.parametrize(
    "name", ["/etc/x.png", "../x.png", "a/../../x.png", "a\u2028b.png", "a\nb.png", "", "a\x00.png"]
)
def test_a_name_outside_the_folder_or_with_a_line_break_is_refused(name):
    assert name_problem(name)


def test_no_reader_scores_an_image_outside_the_folder(tmp_path):
    images = images_folder(tmp_path / "photos")
    outside = tmp_path / "outside.png"
    make_demo_example(3, 99, 32).image.save(outside)
    rows = [{"image": f"img{i}.png", "caption": f"caption {i}"} for i in range(6)]
    rows += [{"image": str(outside), "caption": "absolute"}]
    rows += [{"image": "../../outside.png", "caption": "up and out"}]
    captions = write_jsonl(tmp_path / "captions.jsonl", rows)
    report = copy_custom(images, captions, tmp_path / "raw")
    assert report["images_copied"] == 6
    # the raw folder's own copy of the list is read by `splits`: the outside file stays out
    corpus = dataset_kind("custom").read(tmp_path / "raw", stage_params(custom=CUSTOM))
    assert sorted(corpus.images) == [f"img{i}.png" for i in range(6)]
    dropped = corpus.report["dropped_lines_malformed"]
    assert dropped["count"] == 2 and "not a path inside the images folder" in dropped["examples"][0]
    assert sum(split_counts(str(images), str(captions), **CUSTOM).values()) == 6
    with pytest.raises(TieError, match=r"image list entry '\.\./\.\./outside\.png': not a path"):
        image_sources("custom", tmp_path / "raw", ["img0.png", "../../outside.png"])


def test_a_linked_folder_inside_the_images_is_not_copied(tmp_path):
    images = images_folder(tmp_path / "photos", n=2)
    elsewhere = images_folder(tmp_path / "elsewhere", n=1)
    (images / "linked").symlink_to(elsewhere, target_is_directory=True)
    rows = [{"image": "img0.png", "caption": "a"}, {"image": "linked/img0.png", "caption": "b"}]
    report = copy_custom(images, write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "raw")
    assert report["images_copied"] == 1
    assert report["unreadable"][0].startswith("linked/img0.png: a symbolic link")
    assert not (tmp_path / "raw/images/linked").exists()


# 3. Captions kept as written (whitespace normalised); a wrong type is refused, named.


@pytest.mark.parametrize(
    "value, what",
    [
        (["a", "red", "circle"], "a list"),
        ({"text": "a"}, "an object"),
        (True, "a boolean"),
        (3, "a number"),
        (float("nan"), r"a number \(nan\)"),
    ],
)
def test_a_jsonl_caption_that_is_not_a_string_is_refused(tmp_path, value, what):
    rows = [{"image": "a.png", "caption": "a cat"}, {"image": "b.png", "caption": value}]
    path = write_jsonl(tmp_path / "captions.jsonl", rows)
    with pytest.raises(TieError, match=rf"captions.jsonl, line 2: field caption is {what}"):
        read_caption_rows(path)


def test_a_split_that_is_not_a_string_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"image": "a.png", "caption": "a", "split": 0}])
    with pytest.raises(TieError, match=r"c.jsonl, line 1: field split is a number \(0\)"):
        read_caption_rows(path)


def test_csv_captions_keep_quoted_line_breaks_and_rare_separators(tmp_path):
    path = tmp_path / "captions.csv"
    text = (
        'image,caption\n"a.png","a red circle\nand a blue square"\n'
        "b.png,a dog\u2028on grass\nc.png,a cat\x85in a box\fat night\n"
        'd.png,"a, b"\n'
    )
    path.write_text(text, newline="")
    rows, n = read_caption_rows(path)
    assert n == 4
    assert [(line, image, caption) for line, image, caption, _ in rows] == [
        (2, "a.png", "a red circle and a blue square"),
        (4, "b.png", "a dog on grass"),
        (5, "c.png", "a cat in a box at night"),
        (6, "d.png", "a, b"),
    ]


def test_a_csv_row_with_an_unquoted_comma_is_refused(tmp_path):
    path = tmp_path / "captions.csv"
    path.write_text("image,caption\na.png,a red, blue square\n")
    with pytest.raises(TieError, match=r"line 2: 3 fields, the header has 2 .*double quotes"):
        read_caption_rows(path)


@pytest.mark.parametrize(
    "document, message",
    [
        ({"images": ["a.png"]}, r"images\[0\]: a string \('a.png'\); expected an object"),
        (
            {"images": [{"filename": "a.png", "sentences": "a cat"}]},
            r"images\[0\]\.sentences: a string \('a cat'\); it must be a list",
        ),
        (
            {"images": [{"filename": "a.png", "sentences": [{"raw": ["a"]}]}]},
            r"images\[0\]\.sentences\[0\]: field raw is a list",
        ),
        ([1, 2], r"not a Karpathy-format file"),
    ],
)
def test_a_karpathy_file_of_the_wrong_shape_is_one_line_from_tie_check(tmp_path, document, message):
    images = images_folder(tmp_path / "photos", n=1)
    (tmp_path / "captions.json").write_text(json.dumps(document))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["dataset"] = "custom"
    params["custom"] |= {"images": str(images), "captions": str(tmp_path / "captions.json")}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(main, ["check", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1
    assert "captions.json" in result.output
    assert re.search(message, result.output), result.output


def test_a_latin_1_captions_file_names_itself_and_the_line(tmp_path):
    path = tmp_path / "captions.csv"
    path.write_bytes("image,caption\na.png,a cat\nb.png,un caf\xe9\n".encode("latin-1"))
    with pytest.raises(TieError, match=r"captions.csv, line 3: not UTF-8 \(byte 0xe9\)"):
        read_caption_rows(path)


def test_an_upper_case_suffix_and_no_matching_image_are_said(tmp_path):
    images = images_folder(tmp_path / "photos", n=2)
    path = tmp_path / "captions.CSV"
    path.write_text("image,caption\nimg0.png,a\nimg1.png,b\n")
    copy_custom(images, path, tmp_path / "raw")
    assert (
        len(dataset_kind("custom").read(tmp_path / "raw", stage_params(custom=CUSTOM)).images) == 2
    )
    path.write_text("image,caption\nnone.png,a\n")
    copy_custom(images, path, tmp_path / "raw")
    with pytest.raises(TieError, match=r"no captioned images found in .*captions.csv"):
        dataset_kind("custom").read(tmp_path / "raw", stage_params(custom=CUSTOM))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_named_as_an_image_is_skipped_not_opened(tmp_path):
    images = images_folder(tmp_path / "photos", n=1)
    os.mkfifo(images / "pipe.png")
    rows = [{"image": "img0.png", "caption": "a"}, {"image": "pipe.png", "caption": "b"}]
    report = copy_custom(images, write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "raw")
    assert report["images_copied"] == 1
    assert report["unreadable"] == [
        "pipe.png: not a regular file (a folder, FIFO, socket or device)"
    ]


# 6. Nothing expanded or echoed without a bound.


def alias_bomb(levels=9):
    """One YAML value of 9^levels numbers, written in under 1 KB by anchors and aliases."""
    items = ["&a0 [" + ", ".join(["0.1"] * 9) + "]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def test_a_yaml_alias_bomb_is_one_short_line_at_once(tmp_path):
    text = (REPO / "params.yaml").read_text()
    start = text.index("\n  reg: ") + len("\n  reg: ")
    end = text.index("\n", start)
    (tmp_path / "params.yaml").write_text(text[:start] + alias_bomb() + text[end:])
    result = subprocess.run(
        [Path(sys.executable).parent / "tie", "check", str(tmp_path / "params.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert len(result.stderr) < 400 and result.stderr.count("\n") == 1, result.stderr[:400]
    assert "'cca' stands for more than 100000 values (YAML aliases" in result.stderr


def test_a_huge_value_is_quoted_briefly(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["cca"]["reg"] = ["x" * 100_000]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(main, ["check", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1 and len(result.output) < 600, result.output[:600]
    assert "cca.reg = ['xxxx" in result.output


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        (
            "webdataset",
            "shards",
            "data/{00000000..99999999}.tar",
            "its brace ranges name 100000000 shards, more than 1000000",
        ),
        ("demo", "n_train", 100_000_000, "must be an integer from 2 to 1000000"),
        ("fisher", "seed", 2**40, "must be an integer from 0 to 4294967295"),
        ("cca", "n_components", [8] * 101, "or a non-empty list of them"),
        ("webdataset", "caption_field", "", "the extension of each sample's caption member"),
    ],
)
def test_sizes_have_an_upper_limit(tmp_path, section, key, value, message):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params[section][key] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(main, ["check", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1 and message in result.output, result.output[:600]
    assert len(result.output) < 600


def test_shard_names_are_counted_before_they_are_made():
    with pytest.raises(TieError, match=r"100000000 shard names, more than 1000000"):
        expand_braces("data/{00000000..99999999}.tar")
    assert (
        shard_count("s3://b/{000..009}-{a,b}.tar")
        == 20
        == len(expand_braces("s3://b/{000..009}-{a,b}.tar"))
    )


@pytest.mark.parametrize(
    "content, message",
    [
        (b"dataset: demo\ncca: {reg: caf\xe9}\n", "is not UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is not UTF-8 text"),
        (b"\x00\x01\x02binary", "is not valid YAML: unacceptable character #x0000"),
        (None, "is not a file"),
    ],
)
def test_a_params_file_that_is_not_text_is_one_line(tmp_path, content, message):
    path = tmp_path / "params.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(TieError, match=message):
        read_params(path)


def test_a_missing_section_says_what_to_add(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    del params["eval"]
    with pytest.raises(TieError, match=r"eval is missing: it must be a section of `key: value`"):
        check_params(params)


# 2. A feature file is used only if it is what dvc.lock records, with sane values.


def tamper(path, offset, new_bytes):
    """Overwrite bytes of `path` in place, keeping its size and its dates."""
    stat = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(new_bytes)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_feature_file_unlike_its_lock_record_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    features = Path("features/x.npy")
    save_features(features, np.ones((4, 3)), ["a", "b", "c", "d"])
    md5 = hashlib.md5(features.read_bytes()).hexdigest()
    ids_md5 = hashlib.md5(Path("features/x.ids.txt").read_bytes()).hexdigest()
    outs = [{"path": str(features), "md5": md5}, {"path": "features/x.ids.txt", "md5": ids_md5}]
    Path("dvc.lock").write_text(yaml.safe_dump({"stages": {"feats": {"outs": outs}}}))
    assert load_features(features, ["a", "b", "c", "d"]).shape == (4, 3)
    tamper(features, features.stat().st_size - 4, np.float32(1e30).tobytes())
    with pytest.raises(
        TieError, match=r"x.npy is not what dvc.lock records .* `dvc repro -f feats`"
    ):
        load_features(features, ["a", "b", "c", "d"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e30])
def test_a_non_finite_or_absurd_feature_value_is_refused_naming_the_row(tmp_path, bad):
    matrix = np.ones((5, 3))
    matrix[3, 1] = bad
    save_features(tmp_path / "x.npy", matrix, list("abcde"))
    with pytest.raises(TieError, match=r"x.npy, row 3: value (nan|inf|1e\+30)"):
        load_image_features(tmp_path / "x.npy", list("abcde"))


@pytest.mark.e2e
def test_a_damaged_feature_file_dvc_calls_up_to_date_stops_the_next_experiment(
    demo_project, tmp_path
):
    project = copy_project(demo_project, tmp_path / "project")
    run(["dvc", "status"], project)  # DVC records each file's size and date with its hash
    features = project / "features/demo/image/colorgrid.npy"
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    md5 = next(
        o["md5"] for o in lock["stages"]["image_features"]["outs"] if o["path"].endswith(".npy")
    )
    cached = project / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    for copy in (cached, features):  # the cache's copy damaged, and checked out
        tamper(copy, copy.stat().st_size - 4, np.float32(1e30).tobytes())
    _, status = run(["dvc", "status"], project)
    assert "up to date" in status  # DVC trusts the size and date it recorded
    code, output = run(["dvc", "exp", "run", "-S", "cca.reg=0.001"], project, check=False)
    assert code != 0
    assert "features/demo/image/colorgrid.npy is not what dvc.lock records" in output
    assert "dvc repro -f image_features" in output


# 4. WebDataset shards: a cut shard is refused; a shard changed since indexing is not read.


@pytest.fixture
def shards(tmp_path):
    write_shards(tmp_path / "shards")
    return tmp_path, Webdataset(**SECTION | {"shards": str(tmp_path / SECTION["shards"])})


@pytest.mark.parametrize("tail", [b"", b"\x01" * 512, bytes(512)])
def test_a_shard_cut_at_a_member_boundary_is_refused(shards, tail):
    root, section = shards
    shard = root / "shards/00001.tar"
    with tarfile.open(shard) as tar:
        cut = tar.getmembers()[30].offset  # the header of a member: a clean cut
    data = shard.read_bytes()[:cut] + tail
    shard.write_bytes(data)
    with pytest.raises(TieError, match=rf"00001.tar has no end-of-archive after byte {cut}"):
        prepare_webdataset(root / "raw", section)


def test_a_shard_rewritten_after_indexing_is_refused_when_images_are_read(shards):
    root, section = shards
    prepare_webdataset(root / "raw", section)
    corpus = read_webdataset(root / "raw", section)
    assert len(image_sources("webdataset", root / "raw", corpus.images)) == len(corpus.images)
    record = json.loads((root / "raw/images/samples.jsonl").read_text().splitlines()[-1])
    tamper(Path(record["url"]), record["offset"] + 100, b"\x00" * 8)  # same size, same offsets
    with pytest.raises(TieError, match=r"00001.tar changed since the data stage indexed it"):
        image_sources("webdataset", root / "raw", corpus.images)


def test_a_shard_member_named_outside_is_dropped_and_reported(tmp_path):
    shard = tmp_path / "0.tar"
    with tarfile.open(shard, "w") as tar:
        for name, data in [("../up.jpg", b"x"), ("../up.txt", b"a cat")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    section = Webdataset(**SECTION | {"shards": str(shard)})
    report = prepare_webdataset(tmp_path / "raw", section)
    assert report["bad"]["key not a relative name"] == 1 and report["good"] == 0


# 5. Hangs: each wait has a bound, then one line.


class TricklingServer:
    """A loopback HTTP server that answers every request with one header line every
    `every` seconds and never ends the headers (each answer stops after `limit` lines)."""

    def __init__(self, every=0.5, limit=240):
        self.stop = threading.Event()
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.every, self.limit = every, limit
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection):
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                for k in range(self.limit):
                    if self.stop.wait(self.every):
                        return
                    connection.sendall(f"X-Wait-{k}: 1\r\n".encode())
            except OSError:
                return  # the client gave up

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join(timeout=5)
        self.socket.close()


LOG_ONE_RUN = """
from tie.errors import TieError
from tie.evaluation.tracking import log_evaluation
try:
    log_evaluation("demo", {"cca": {"reg": 0.1}}, {"image_search": {"R_at_1": 1.0}}, [])
except TieError as error:
    print(error)
    raise SystemExit(1)
"""


def test_a_tracking_server_that_trickles_headers_fails_within_the_deadline(tmp_path):
    env = dict(os.environ, TIE_MLFLOW_DEADLINE_S="3", MLFLOW_HTTP_REQUEST_TIMEOUT="2")
    with TricklingServer() as server:
        env["MLFLOW_TRACKING_URI"] = server.url
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", LOG_ONE_RUN],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        took = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"could not log the run to MLflow at {server.url}: no complete answer within 3 s" in (
        result.stdout
    )
    assert result.stdout.count("\n") == 1
    assert took < 30  # the deadline, then a few seconds to end the run and start Python


RAY_SESSION = """
from tie.config.schema import Compute
from tie.engine.ray import ray_session
from tie.errors import TieError
compute = Compute(engine="ray", address="", num_cpus=1, num_gpus=1, concurrency=1)
try:
    with ray_session(compute):
        pass
except TieError as error:
    print(error)
    raise SystemExit(1)
"""


@pytest.mark.slow
def test_ray_resources_no_node_has_are_waited_for_a_bounded_time(tmp_path):
    require_module("ray")
    env = dict(os.environ, TIE_RAY_RESOURCE_WAIT_S="3", RAY_USAGE_STATS_ENABLED="0")
    env["HOME"] = str(tmp_path)  # Ray writes ~/.ray/auth_token: not into the user's home
    env.pop("RAY_ADDRESS", None)
    env["CUDA_VISIBLE_DEVICES"] = ""  # a machine without GPUs, whatever this one has
    result = subprocess.run(
        [sys.executable, "-c", RAY_SESSION],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "no node of the Ray cluster can hold one encoder actor" in result.stdout
    assert "compute.num_gpus = 1; the largest node has" in result.stdout
    assert "0 GPUs) after waiting 3 s" in result.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_tie_check_names_a_fifo_in_custom_images_whatever_the_dataset(tmp_path):
    images = images_folder(tmp_path / "photos" / "deep", n=1).parent
    os.mkfifo(images / "deep" / "pipe.png")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["custom"]["images"] = str(images)  # dataset stays demo: still a dep of `data`
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [Path(sys.executable).parent / "tie", "check", str(tmp_path / "params.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"holds {images}/deep/pipe.png, which is not a regular file" in result.stderr
    assert result.stderr.count("\n") == 1


# Weak cases: one line each, by the mechanisms above.


def test_a_broken_dvc_lock_is_one_line_from_tie_show(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("metrics").mkdir()
    Path("metrics/retrieval.json").write_text("{}")
    Path("dvc.yaml").write_text("stages: {}\n")  # a project (`tie show` says when it is not)
    Path("dvc.lock").write_text("stages: [\n  evaluate: {")
    result = CliRunner().invoke(main, ["show"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "dvc.lock of the workspace is not valid YAML" in result.output
    assert "git checkout -- dvc.lock" in result.output


def test_a_shard_path_that_is_a_folder_says_so(tmp_path):
    (tmp_path / "shards/0.tar").mkdir(parents=True)
    section = Webdataset(**SECTION | {"shards": str(tmp_path / "shards/{0..0}.tar")})
    with pytest.raises(TieError, match=r"0.tar is a folder, not a tar file"):
        prepare_webdataset(tmp_path / "raw", section)


def test_a_token_file_name_with_a_line_separator_is_dropped(tmp_path):
    images = images_folder(tmp_path / "images", n=2)
    odd = "img0\u2028.png"
    (images / "img0.png").rename(images / odd)
    (tmp_path / "tokens.txt").write_text(f"{odd}#0\ta cat\nimg1.png#0\ta dog\n")
    splits = {}
    for split in ("train", "val", "test"):
        splits[split] = tmp_path / f"{split}.txt"
        splits[split].write_text(f"{odd}\nimg1.png\n" if split == "train" else "")
    layout = Flickr8kLayout(images, tmp_path / "tokens.txt", splits)
    corpus = read_flickr8k_layout(layout, "demo")
    assert corpus.images == ["img1.png"]
    assert corpus.report["dropped_lines_malformed"]["count"] == 1


def test_a_feature_file_larger_than_the_free_space_is_refused_before_writing(tmp_path):
    # twice what the disk holds: other tests (on the other worker) free space meanwhile
    columns = 2 * (shutil.disk_usage(tmp_path).free // 4) + 1
    with pytest.raises(TieError, match=r"not enough disk space for .*x.npy: it needs"):
        create_features(tmp_path / "x.npy", ["a"], columns)
    assert not (tmp_path / "x.npy").exists()


def test_tie_report_to_a_folder_is_one_line(tmp_path):
    (tmp_path / "out").mkdir()
    result = CliRunner().invoke(main, ["report", "--output", str(tmp_path / "out")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "is a directory" in result.output


@pytest.mark.parametrize(
    "entry, message",
    [
        ("a.png", r"images\[0\] is not an object"),
        ({"filename": "a.png", "split": "test", "sentences": "a cat"}, r"sentences must be a list"),
        ({"filename": "a.png", "split": 1, "sentences": []}, r"filename and split must be strings"),
    ],
)
def test_a_published_karpathy_file_of_the_wrong_shape_is_one_line(tmp_path, entry, message):
    images = images_folder(tmp_path / "images", n=1)
    (tmp_path / "k.json").write_text(json.dumps({"images": [entry]}))
    with pytest.raises(TieError, match=message):
        read_karpathy_json(tmp_path / "k.json", images, "flickr8k")


def test_a_full_disk_under_the_local_store_is_not_advice_to_move_it_away(tmp_path):
    db = tmp_path / "mlflow.db"
    with sqlite3.connect(db) as store:
        store.execute("PRAGMA max_page_count = 2")  # a store on a disk that is full
        store.execute("CREATE TABLE runs (x)")
        with pytest.raises(sqlite3.OperationalError) as full:
            store.execute("INSERT INTO runs VALUES (?)", ["x" * 100_000])
    message = failure_message(full.value, f"sqlite:///{db}")
    assert "database or disk is full" in message and "free some space there" in message
    assert "move it away" not in message


@pytest.mark.parametrize("query", [b"caf\xe9 red", b"red\x1b[2Jcircle"])
def test_tie_search_refuses_a_query_that_is_not_printable_utf8_in_one_line(query, tmp_path):
    tie = str(Path(sys.executable).parent / "tie")
    result = subprocess.run([tie.encode(), b"search", query], cwd=tmp_path, capture_output=True)
    error = result.stderr.decode("utf-8", "replace")
    assert result.returncode != 0
    assert "Traceback" not in error and error.count("\n") == 1, error
    assert "the query is not UTF-8 text" in error


# Issue 31. Names as data: compared exactly as written; a near miss is named; one picture
# under two names is reported.


def custom_corpus(images, rows, tmp_path):
    from tie.datasets.manifest import write_manifest

    copy_custom(images, write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "raw")
    write_manifest(tmp_path / "raw")
    return dataset_kind("custom").read(tmp_path / "raw", stage_params(custom=CUSTOM))


def test_image_names_keep_their_spaces_and_a_near_miss_is_named(tmp_path):
    images = images_folder(tmp_path / "photos", n=3)
    (images / "img0.png").rename(images / "cat.png ")  # a trailing space: a real file
    (images / "img1.png").rename(images / " lead.png")
    (images / "img2.png").rename(images / "cat.png")  # another picture
    rows = [
        {"image": "cat.png ", "caption": "the spaced cat"},
        {"image": " lead.png", "caption": "the leading one"},
        {"image": "cat.png", "caption": "the plain cat"},
        {"image": "lead.png", "caption": "a name without its space"},
    ]
    corpus = custom_corpus(images, rows, tmp_path)
    caption_of = dict(zip(corpus.images, corpus.captions, strict=True))
    assert caption_of == {
        "cat.png ": ["the spaced cat"],
        " lead.png": ["the leading one"],
        "cat.png": ["the plain cat"],
    }
    (missing,) = corpus.report["dropped_lines_missing_image"]["examples"]
    assert missing.startswith("'lead.png' (no such file; ' lead.png', the same name with other")


def test_a_name_in_the_other_unicode_normal_form_is_named(tmp_path):
    import unicodedata

    images = images_folder(tmp_path / "photos", n=2)
    nfc = unicodedata.normalize("NFC", "café.png")
    (images / "img0.png").rename(images / nfc)
    nfd = unicodedata.normalize("NFD", nfc)
    rows = [{"image": "img1.png", "caption": "a"}, {"image": nfd, "caption": "b"}]
    report = copy_custom(images, write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "raw")
    (missing,) = report["missing"]  # the data stage's report: the folder has every name
    assert f"{nfc!r}, the same name in Unicode NFC, is one" in missing, missing


def test_one_picture_under_two_names_is_reported(tmp_path):
    from tie.corpus.flickr8k import format_report

    images = images_folder(tmp_path / "photos", n=3)
    shutil.copyfile(images / "img0.png", images / "again.png")
    rows = [{"image": name, "caption": name} for name in ("img0.png", "img1.png", "again.png")]
    corpus = custom_corpus(images, rows, tmp_path)
    same = corpus.report["images_same_content"]
    assert same["count"] == 1
    split_of = dict(zip(corpus.images, corpus.splits, strict=True))
    first, second = sorted(["img0.png", "again.png"], key=corpus.images.index)
    assert same["examples"] == [f"{first} = {second} ({split_of[first]}, {split_of[second]})"]
    assert "1 kept image whose bytes repeat an earlier image's" in format_report(corpus.report)


@pytest.mark.parametrize("same_picture", ["one_split", "by_name"])
def test_one_picture_under_many_names_is_in_one_split_unless_asked(tmp_path, same_picture):
    from tie.datasets.manifest import write_manifest

    images = images_folder(tmp_path / "photos", n=2)
    for index in range(12):
        shutil.copyfile(images / "img0.png", images / f"copy{index}.png")
    rows = [{"image": p.name, "caption": p.stem} for p in sorted(images.iterdir())]
    copy_custom(images, write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "raw")
    write_manifest(tmp_path / "raw")
    settings = CUSTOM | {"val_fraction": 0.3, "test_fraction": 0.3, "same_picture": same_picture}
    corpus = dataset_kind("custom").read(tmp_path / "raw", stage_params(custom=settings))
    split_of = dict(zip(corpus.images, corpus.splits, strict=True))
    picture = {split_of[name] for name in split_of if name != "img1.png"}
    if same_picture == "one_split":  # the split of the first name, copy0.png, hashed
        assert picture == {hash_split("copy0.png", 0, 0.3, 0.3)}
    else:
        assert picture == {"train", "val", "test"}  # 13 names hashed on their own
    assert corpus.report["images_same_content"]["count"] == 12  # reported either way


def test_a_flickr8k_layout_keeps_a_name_with_spaces_on_its_own_picture(tmp_path):
    images = images_folder(tmp_path / "photos", n=3)
    (images / "img0.png").rename(images / "cat.png ")
    (images / "img1.png").rename(images / "cat.png")
    lines = ["cat.png #0\tthe spaced cat", "cat.png#0\tthe plain cat", "img2.png #0\ttrailing"]
    (tmp_path / "tokens.txt").write_text("\n".join(lines) + "\n")
    splits = {split: tmp_path / f"{split}.txt" for split in ("train", "val", "test")}
    splits["train"].write_text("cat.png \ncat.png\nimg2.png  \n")  # the last: published blanks
    splits["val"].write_text("")
    splits["test"].write_text("")
    corpus = read_flickr8k_layout(Flickr8kLayout(images, tmp_path / "tokens.txt", splits), "demo")
    assert dict(zip(corpus.images, corpus.captions, strict=True)) == {
        "cat.png ": ["the spaced cat"],
        "cat.png": ["the plain cat"],
        "img2.png": ["trailing"],
    }


# Issue 31. Every stage output a later stage or the CLI reads is what dvc.lock records.


def lock_record(stage, *paths):
    from tie.recorded import content_md5

    outs = [{"path": str(path), "hash": "md5", "md5": content_md5(path)} for path in paths]
    Path("dvc.lock").write_text(yaml.safe_dump({"stages": {stage: {"outs": outs}}}))


def test_an_edited_model_splits_file_or_vocabulary_is_refused_with_the_restore_command(
    tmp_path, monkeypatch
):
    from tie.corpus.corpus import Corpus
    from tie.joint.cca import CCA
    from tie.joint.space import load_joint_model
    from tie.text.word_vectors import WordVectors

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    model_dir = Path("models/demo/colorgrid-glove")
    CCA(n_components=2, reg=1e-3).fit(rng.normal(size=(20, 4)), rng.normal(size=(20, 3))).save(
        model_dir
    )
    splits = Path("data/splits/demo.json")
    Corpus("demo", ["a.png"], ["test"], [["a cat"]]).save(splits)
    vocab = Path("features/demo/vocab/glove.npz")
    WordVectors(["cat"], np.ones((1, 2), dtype=np.float32)).save(vocab)
    lock_record("cca", model_dir)
    load_joint_model(model_dir)
    lock_record("many", model_dir, splits, vocab)
    for path, load in ((splits, Corpus.load), (vocab, WordVectors.load)):
        load(path)
        tamper(path, 20, b"X")  # size and date kept: `dvc status` sees nothing
        with pytest.raises(TieError, match=rf"{path} is not what dvc.lock records .*"):
            load(path)
    summary = model_dir / "cca.json"
    text = summary.read_text()
    summary.write_text(text.replace('"reg": 0.001', '"reg": 0.002'))  # same length
    with pytest.raises(
        TieError,
        match=r"models/demo/colorgrid-glove is not what dvc.lock records \(MD5 \w+\.dir, "
        r"recorded \w+\.dir\).*`dvc checkout --relink models/demo/colorgrid-glove`.*"
        r"`dvc repro -f many`",
    ):
        load_joint_model(model_dir)


def test_a_file_inside_a_recorded_folder_is_checked_against_dvcs_list_of_it(tmp_path, monkeypatch):
    """The raw folder's token file, edited with its size kept, by DVC's `.dir` listing."""
    from tie.recorded import check_recorded, content_md5, file_md5

    monkeypatch.chdir(tmp_path)
    raw = Path("data/raw/demo")
    raw.mkdir(parents=True)
    (raw / "tokens.txt").write_text("a.png#0\ta cat\n")
    folder_md5 = content_md5(raw)
    listing = [{"md5": file_md5(raw / "tokens.txt"), "relpath": "tokens.txt"}]
    cache = Path(".dvc/cache/files/md5") / folder_md5[:2] / folder_md5[2:]
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps(listing))
    lock_record("data", raw)
    check_recorded(raw / "tokens.txt")
    tamper(raw / "tokens.txt", 9, b"d")
    with pytest.raises(TieError, match=r"tokens.txt is not what .*relink data/raw/demo`"):
        check_recorded(raw / "tokens.txt")


def test_an_output_edited_through_a_hardlink_to_the_cache_says_to_remove_the_cached_copy(
    tmp_path, monkeypatch
):
    """`dvc checkout` would bring the damage back: the advice removes the cached copy."""
    from tie.corpus.corpus import Corpus
    from tie.recorded import file_md5

    monkeypatch.chdir(tmp_path)
    splits = Path("data/splits/demo.json")
    Corpus("demo", ["a.png"], ["test"], [["a cat"]]).save(splits)
    md5 = file_md5(splits)
    cached = Path(".dvc/cache/files/md5") / md5[:2] / md5[2:]
    cached.parent.mkdir(parents=True)
    os.link(splits, cached)  # what cache.type hardlink does
    lock_record("splits", splits)
    tamper(splits, 20, b"X")
    with pytest.raises(
        TieError,
        match=rf"cached copy is damaged too \({cached}\): remove it and recompute, "
        rf"`rm {cached} && dvc repro -f splits`",
    ):
        Corpus.load(splits)


# Issue 31. One error path for a damaged file and a full disk, in every stage and command.


def stage_main(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / f"stages/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def custom_project(tmp_path, monkeypatch):
    """A custom dataset's raw folder and params.yaml in `tmp_path`, the working directory."""
    from tie.datasets.manifest import write_manifest

    images = images_folder(tmp_path / "photos", n=6)
    rows = [{"image": f"img{i}.png", "caption": f"a picture number {i}"} for i in range(6)]
    copy_custom(images, write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "raw")
    write_manifest(tmp_path / "raw")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params |= {"dataset": "custom", "split": "official"}
    params["custom"] |= {"images": str(images), "captions": str(tmp_path / "c.jsonl")}
    params["custom"] |= {"val_fraction": 0.2, "test_fraction": 0.5}
    params["eval"]["ks"] = [1]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("full", ["splits", "images"])
def test_a_full_disk_in_a_stage_is_one_line_naming_the_file(tmp_path, monkeypatch, full):
    custom_project(tmp_path, monkeypatch)
    out = {"splits": "s.json", "images": "s.images.txt"} | {full: "/dev/full"}
    result = CliRunner().invoke(stage_main("splits"), ["raw", out["splits"], out["images"]])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: /dev/full: no space left on the device: free some space on it (`df -h /dev`),"
        " then run again"
    )
    assert "Traceback" not in result.output


def test_a_folder_that_cannot_be_written_is_one_line_naming_the_file(tmp_path):
    """/sys refuses a new file even to root (EACCES): a folder the user cannot write."""
    import click

    from tie.commands import Command

    target = Path("/sys/tie-hostile-test.npy")
    if not Path("/sys").is_dir() or target.exists():
        pytest.skip("needs Linux's /sys")

    @click.command(cls=Command)
    def write():
        np.save(target, np.ones(3))

    result = CliRunner().invoke(write, [])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {target}: permission denied: make it (and its folder) yours to write, then"
        " run again\n"
    )


def damage(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_damaged_model_mixture_splits_or_vocabulary_is_one_line(tmp_path, monkeypatch):
    from tie.corpus.corpus import Corpus
    from tie.joint.cca import CCA
    from tie.joint.space import load_joint_model
    from tie.text.fisher_vectors import FisherVectors
    from tie.text.word_vectors import WordVectors

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    CCA(n_components=2, reg=1e-3).fit(rng.normal(size=(20, 4)), rng.normal(size=(20, 3))).save(
        "model"
    )
    FisherVectors(n_components=2, seed=0).fit(rng.normal(size=(40, 3)).astype(np.float32)).save(
        "mixture"
    )
    Corpus("demo", ["a.png"], ["test"], [["a cat"]]).save("splits.json")
    WordVectors(["cat"], np.ones((1, 2), dtype=np.float32)).save(Path("vocab.npz"))
    cases = [
        (Path("model/cca.npz"), lambda: load_joint_model("model"), "model"),
        (Path("mixture/fisher.npz"), lambda: FisherVectors.load("mixture"), "mixture"),
        (Path("splits.json"), lambda: Corpus.load("splits.json"), "splits.json"),
        (Path("vocab.npz"), lambda: WordVectors.load("vocab.npz"), "vocab.npz"),
    ]
    for damaged, load, named in cases:
        load()
        damage(damaged)
        with pytest.raises(TieError, match=rf"^{named} is damaged or not the expected file \("):
            load()


def test_a_caption_over_the_csv_field_limit_is_one_line(tmp_path):
    path = tmp_path / "captions.csv"
    path.write_text(f'image,caption\na.png,ok\nb.png,"{"x" * 140_000}\n')
    with pytest.raises(TieError, match=r"captions.csv, line 3: a field longer than 131,072"):
        read_caption_rows(path)


# Issue 31. `tie check` checks what the stages will: types without reading, split values,
# the file system never walked.


def tie_check(tmp_path, dataset="demo", **custom):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["dataset"] = dataset
    params["custom"] |= custom
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return CliRunner().invoke(main, ["check", str(tmp_path / "params.yaml")])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_tie_check_refuses_special_files_and_links_to_them_without_reading(tmp_path):
    images = images_folder(tmp_path / "photos", n=1)
    os.mkfifo(tmp_path / "captions.csv")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    (tmp_path / "zero-images").symlink_to("/dev/zero")
    (images / "zero.png").symlink_to("/dev/zero")
    cases = [
        ({"captions": str(tmp_path / "captions.csv")}, "captions.csv is not a regular file"),
        ({"captions": str(tmp_path / "zero.csv")}, "zero.csv is not a regular file"),
        ({"images": str(tmp_path / "zero-images")}, "zero-images is not a regular file"),
        ({"images": str(images)}, "zero.png, which is not a regular file"),
    ]
    for custom, message in cases:
        result = tie_check(tmp_path, **custom)
        assert result.exit_code == 1, result.output
        assert message in result.output and "DVC" in result.output
        assert len(result.output.splitlines()) == 1


def test_tie_check_refuses_a_folder_for_a_file_a_file_for_a_folder_and_never_walks_it_all(
    tmp_path,
):
    images = images_folder(tmp_path / "photos", n=1)
    (tmp_path / "c.csv").mkdir()
    cases = [
        ({"captions": str(tmp_path / "c.csv")}, "c.csv is a folder, not a file"),
        ({"images": str(images / "img0.png")}, "img0.png is a file, not a folder"),
        ({"images": "/"}, "which is a folder on another file system"),
    ]
    for custom, message in cases:
        started = time.monotonic()
        result = tie_check(tmp_path, **custom)
        assert result.exit_code == 1 and message in result.output, result.output
        assert time.monotonic() - started < 10


def test_tie_check_refuses_a_split_value_the_splits_stage_refuses(tmp_path):
    images = images_folder(tmp_path / "photos", n=4)
    rows = [{"image": f"img{i}.png", "caption": "a", "split": "validation"} for i in range(4)]
    captions = write_jsonl(tmp_path / "c.jsonl", rows)
    result = tie_check(tmp_path, "custom", images=str(images), captions=str(captions))
    assert result.exit_code == 1
    assert "c.jsonl, line 1: split 'validation'; expected one of train, restval" in result.output


# Issue 31. Text the word vectors do not cover stops at text_features, naming it.


def test_captions_the_word_vectors_do_not_cover_stop_at_text_features(tmp_path):
    from tie.engine.engine import LOCAL
    from tie.text.features import write_caption_features
    from tie.text.word_vectors import WordVectors

    words = ["red", "circle"]
    WordVectors(words, np.eye(2, dtype=np.float32)).save(tmp_path / "vocab.npz")
    captions = [["красный круг"], ["синий квадрат"], ["red circle"], ["зелёный"]]
    corpus = Corpus("demo", ["a", "b", "c", "d"], ["train", "train", "val", "test"], captions)
    params = stage_params(
        text="glove",
        tokenizer={"lowercase": True, "stop_words": "english", "keep_digits": False},
        caption_vectors={
            "pooling": "mean",
            "idf": False,
            "sif": False,
            "word_scaling": "none",
            "common_components": 0,
        },
        fisher={"store": "dense"},
    )
    out = tmp_path / "text.npy"
    with pytest.raises(
        TieError,
        match=r"text 'glove': none of the 2 train captions has a word its word vectors know "
        r"\(tokens known: 0.0% train, 100.0% val, 0.0% test; e.g. 'красный круг'\)",
    ):
        write_caption_features(params, corpus, tmp_path / "vocab.npz", tmp_path, out, LOCAL)
    assert not out.exists()


# Issue 31. `tie search` refuses params.yaml unlike its run; its --output and `tie ui --host`
# fail in one line.


@pytest.mark.e2e
def test_tie_search_refuses_params_unlike_its_run_and_a_bad_output_in_one_line(
    demo_project, tmp_path
):
    project = copy_project(demo_project, tmp_path / "project")
    code, out = run(["tie", "search", "red", "--output", "sheet.txt"], project, check=False)
    assert code == 1 and "--output sheet.txt has suffix .txt: not a picture format" in out
    assert "Traceback" not in out
    if Path("/dev/full").exists():
        code, out = run(["tie", "search", "red", "--output", "/dev/full"], project, check=False)
        assert code == 1 and "--output /dev/full has no suffix" in out
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("stop_words: english", "stop_words: none"))
    code, out = run(["tie", "search", "red"], project, check=False)
    assert code == 1
    assert out.strip().splitlines()[-1] == (
        "Error: params.yaml differs from the last `dvc repro`, whose outputs a search would"
        " use: tokenizer.stop_words is 'none' in params.yaml, 'english' in the run (mixture);"
        " run `dvc repro` first (or restore params.yaml)"
    )


def test_tie_ui_with_a_host_that_does_not_resolve_is_one_line():
    result = CliRunner().invoke(main, ["ui", "--host", "999.1.1.1", "--port", "5999"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: --host 999.1.1.1: not an address or a name")
    assert len(result.output.splitlines()) == 1


# Issue 31. MLflow store hygiene.

RUN_METRICS = {"image_search": {"R_at_1": 10.0}, "image_annotation": {"R_at_1": 12.0}}


def test_a_moved_project_logs_its_runs_inside_itself(tmp_path, monkeypatch, copy_store):
    import mlflow

    from tie.evaluation.tracking import log_evaluation

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    old, new = tmp_path / "old", tmp_path / "new"
    copy_store(old)  # the project's store, its tables made (the subject is the move)
    (old / "curve.csv").write_text("k,r\n1,10\n")
    monkeypatch.chdir(old)
    log_evaluation("demo", {"text": "glove"}, RUN_METRICS, [old / "curve.csv"], None, "one")
    old.rename(new)
    monkeypatch.chdir(new)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # MLflow sets it: a new process
    run_id, logged = log_evaluation(
        "demo", {"text": "glove"}, RUN_METRICS, [new / "curve.csv"], None, "two"
    )
    assert logged
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{new / 'mlflow.db'}")
    inside = (new / "mlartifacts").as_uri() + "/"
    assert client.get_run(run_id).info.artifact_uri.startswith(inside)
    assert client.get_experiment_by_name("demo").artifact_location.startswith(inside)
    assert (new / "mlartifacts").is_dir() and not old.exists()


def test_an_unknown_scheme_or_a_missing_folder_in_the_tracking_uri_is_refused(
    tmp_path, monkeypatch
):
    from tie.evaluation.tracking import log_evaluation, tracking_uri

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "htp://user:secret@127.0.0.1:5000")
    with pytest.raises(TieError, match=r"unknown scheme 'htp'; use http\(s\)://") as error:
        tracking_uri()
    assert "secret" not in str(error.value)
    missing = tmp_path / "typo" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{missing}")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "curve.csv").write_text("k,r\n1,10\n")
    with pytest.raises(TieError, match=rf"the folder {missing.parent} does not exist"):
        log_evaluation("demo", {"text": "glove"}, RUN_METRICS, [tmp_path / "curve.csv"])
    assert not missing.parent.exists()


def test_tie_report_leaves_out_foreign_runs_and_a_damaged_store_is_one_line(
    tmp_path, monkeypatch, copy_store
):
    import mlflow

    from tie.evaluation.tracking import log_evaluation

    copy_store(tmp_path)  # the project's store, its tables made (the subject is the report)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "metrics/baselines", tmp_path / "metrics/baselines")
    (tmp_path / "curve.csv").write_text("k,r\n1,10\n")
    log_evaluation("demo", {"dataset": "demo"}, RUN_METRICS, [tmp_path / "curve.csv"], None, "a")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("demo").experiment_id
    notebook = client.create_run(experiment, run_name="my-notebook")
    client.log_metric(notebook.info.run_id, "image_search/R_at_1", 99.0)
    client.set_terminated(notebook.info.run_id)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = CliRunner().invoke(main, ["report", "--runs", "mlflow"])
    assert result.exit_code == 0, result.output
    assert "1 runs not made by this pipeline left out (no dvc.experiment tag): my-notebook" in (
        result.output
    )
    assert result.output.count("my-notebook") == 1  # in that line only, in no table

    (tmp_path / "mlflow.db").write_bytes(b"garbage, not a database" * 100)
    result = CliRunner().invoke(main, ["report", "--runs", "mlflow"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: could not read the MLflow store {uri}: ")
    assert len(result.output.splitlines()) == 1


class AnnouncingServer:
    """A real HTTP server on 127.0.0.1 announcing `length` bytes and sending `sent`."""

    def __init__(self, length: int, sent: bytes):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(sent)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/big.zip"

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()


def test_a_download_larger_than_the_free_space_is_refused_before_writing(tmp_path):
    from tie.download import RemoteFile, fetch

    announced = shutil.disk_usage(tmp_path).free + 10**9
    with AnnouncingServer(announced, b"x" * 1000) as url:
        with pytest.raises(TieError, match=r"big.zip needs [\d,]+ bytes more and .* free: free"):
            fetch(RemoteFile("big.zip", url, checksum="md5:" + "0" * 32), tmp_path, attempts=1)
    assert list(tmp_path.iterdir()) == []


# Issue 31. Inputs fixed for the length of a stage.


@pytest.mark.parametrize("change", ["captions", "param"])
def test_an_input_changed_while_a_stage_runs_fails_it_so_nothing_is_recorded(
    tmp_path, monkeypatch, change
):
    custom_project(tmp_path, monkeypatch)
    shutil.copyfile(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    main_of_data = stage_main("data")
    original = main_of_data.callback.__globals__["write_manifest"]

    def meanwhile(folder):  # the user edits an input while the stage runs
        if change == "captions":
            with open(tmp_path / "c.jsonl", "a") as captions:
                captions.write(json.dumps({"image": "img0.png", "caption": "late"}) + "\n")
        else:
            params = yaml.safe_load((tmp_path / "params.yaml").read_text())
            params["raw"]["max_missing_fraction"] = 0.5
            (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        return original(folder)

    monkeypatch.setitem(main_of_data.callback.__globals__, "write_manifest", meanwhile)
    result = CliRunner().invoke(main_of_data, ["data/raw/custom"])
    assert result.exit_code == 1, result.output
    expected = {
        "captions": f"Error: {tmp_path / 'c.jsonl'} changed while the stage data ran",
        "param": "Error: param raw of params.yaml changed while the stage data ran",
    }[change]
    assert result.output.splitlines()[-1].startswith(expected), result.output
    assert "run `dvc repro` again" in result.output


def test_a_yaml_1_1_directive_in_params_is_one_line(tmp_path):
    from tie.config.params import read_params

    path = tmp_path / "params.yaml"
    path.write_text("%YAML 1.1\n---\n" + (REPO / "params.yaml").read_text())
    with pytest.raises(TieError, match=r"declares '%YAML 1.1': remove that line"):
        read_params(path)


# Issue 31. Experiments at once: queued (README's recipe), each in a copy of its own.


def readme_block_after(heading):
    """The commands of README.md's first ```sh block after `heading`, comments left out."""
    text = (REPO / "README.md").read_text()
    assert heading in text, f"README.md has no {heading!r}"
    block = text.split(heading, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_two_experiments_at_once_as_the_readme_says_are_both_saved(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    params = (project / "params.yaml").read_bytes()
    commands = readme_block_after("**Experiments at once.**")
    assert any(c.startswith("dvc queue start -j 2") for c in commands), commands
    values = {}
    for command in commands:
        args = command.split()
        if args[:3] == ["dvc", "queue", "status"]:  # until both say Success
            deadline = time.monotonic() + 600
            while "Running" in (out := run(args, project)[1]) or "Queued" in out:
                assert time.monotonic() < deadline, out
                time.sleep(2)
            assert out.count("Success") == 2, out
            continue
        if "--queue" in args:
            values[args[args.index("-n") + 1]] = args[args.index("-S") + 1].split("=")[1]
        run(args, project)
    assert len(values) == 2
    _, table = run(["dvc", "exp", "show", "--csv", "--no-pager"], project)
    rows = {line.split(",")[0]: line for line in table.splitlines()[1:]}
    header = table.splitlines()[0].split(",")
    for name, value in values.items():
        row = rows[name].split(",")
        assert row[header.index("n_components")] == value, table
        assert row[header.index("State")] == "Success", table
    assert (project / "params.yaml").read_bytes() == params  # the workspace's, untouched
    assert run(["git", "status", "--porcelain"], project)[1] == ""


# Issue 31. An ASCII locale and a non-ASCII image name: DVC stops naming no file; tie check
# names it and the fix.


def test_a_name_an_ascii_locale_cannot_encode_is_named_with_the_fix(tmp_path):
    from helpers import new_project

    project = tmp_path / "project"
    project.mkdir()
    photos = images_folder(project / "photos", n=4)
    (photos / "img0.png").rename(photos / "café.png")
    rows = [{"image": p.name, "caption": f"a picture named {p.stem}"} for p in photos.iterdir()]
    write_jsonl(project / "captions.jsonl", rows)
    custom = {"images": "photos", "captions": "captions.jsonl", "test_fraction": 0.3}
    new_project(project, {"dataset": "custom", "custom": custom, "eval": {"ks": [1]}})
    ascii_locale = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}
    code, out = run(["dvc", "repro", "data"], project, check=False, env=ascii_locale)
    assert code != 0 and "surrogates not allowed" in out, out  # DVC's own, naming no file
    code, out = run(["tie", "check"], project, check=False, env=ascii_locale)
    assert code == 1 and "Traceback" not in out, out
    assert out == (
        "Error: custom.images: the name photos/caf\\xc3\\xa9.png cannot be written as UTF-8, so"
        " DVC (hashing the folder) would stop with `surrogates not allowed`: this locale"
        " decodes file names as ascii, not UTF-8: set LC_ALL=C.UTF-8 (or PYTHONUTF8=1) for tie"
        " and DVC, then run again\n"
    )
    utf8_locale = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}  # the advice, followed
    assert run(["tie", "check"], project, env=utf8_locale)[1].endswith("params.yaml is valid\n")
    run(["dvc", "repro", "data"], project, env=utf8_locale)
    assert (project / "data/raw/custom/images/café.png").is_file()


def test_tie_check_says_an_interrupted_experiment_left_its_values_and_how_to_restore(
    demo_project, tmp_path
):
    import signal

    project = copy_project(demo_project, tmp_path / "project")
    committed = (project / "params.yaml").read_bytes()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    experiment = subprocess.Popen(
        ["dvc", "exp", "run", "-S", "demo.seed=7"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in experiment.stdout:  # Ctrl-C once a stage runs
            if line.startswith("Running stage 'data'"):
                experiment.send_signal(signal.SIGINT)
                break
        experiment.communicate(timeout=120)
    finally:
        experiment.kill()
    assert experiment.returncode != 0
    assert "seed: 7" in (project / "params.yaml").read_text()  # DVC's -S, left behind
    _, out = run(["tie", "check"], project)  # stdout, then stderr
    assert out == "params.yaml is valid\n" + (
        "params.yaml: note: it differs from the last commit (`git diff HEAD -- params.yaml`): if"
        " a `dvc exp run -S` failed or was interrupted, its values are still here; `git"
        " checkout -- params.yaml dvc.lock metrics/ && dvc checkout --force` restores the"
        " committed ones\n"
    ), out
    run(["git", "checkout", "--", "params.yaml", "dvc.lock", "metrics/"], project)
    # the note's command: --force, for the outputs the interrupted stage half wrote
    run(["dvc", "checkout", "--force"], project)
    assert run(["dvc", "status"], project)[1].strip() == "Data and pipelines are up to date."
    assert (project / "params.yaml").read_bytes() == committed
    assert "note" not in run(["tie", "check"], project)[1]
