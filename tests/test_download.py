"""The downloader against a real HTTP server on 127.0.0.1 (started and stopped by the tests)."""

import gzip
import hashlib
import io
import os
import zipfile

import pytest
from helpers import free_port
from local_http_server import LocalServer

from tie.download import MIRROR_ENV, RemoteFile, fetch, source_url
from tie.errors import TieError


def zip_of(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("vectors.txt", data)
    return buffer.getvalue()


PAYLOAD = zip_of(os.urandom(300_000))  # a real archive: files without checksum must open
MD5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()
SIZE = len(PAYLOAD)
SHA256 = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server(serve, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "archive.zip").write_bytes(PAYLOAD)
    return serve(served, mirror=False)


def remote(server, checksum=MD5, size=SIZE, name="archive.zip"):
    return RemoteFile(name=name, url=f"{server.url}/{name}", checksum=checksum, size=size)


@pytest.mark.parametrize("checksum", [MD5, SHA256, None], ids=["md5", "sha256", "none"])
def test_fetch_downloads_verifies_and_moves_into_place(server, tmp_path, checksum):
    path = fetch(remote(server, checksum=checksum), tmp_path / "dest")
    assert path == tmp_path / "dest" / "archive.zip"
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "dest" / "archive.zip.part").exists()
    assert server.requested("archive.zip") == [None]


def test_interrupted_fetch_resumes_with_a_range_request(server, tmp_path):
    server.cut_after["archive.zip"] = 100_000
    path = fetch(remote(server), tmp_path, backoff_s=0.01)
    assert path.read_bytes() == PAYLOAD
    assert server.requested("archive.zip") == [None, "bytes=100000-"]


def test_part_file_left_by_an_earlier_run_is_resumed(server, tmp_path):
    (tmp_path / "archive.zip.part").write_bytes(PAYLOAD[:123_456])
    path = fetch(remote(server), tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert server.requested("archive.zip") == ["bytes=123456-"]


def test_server_ignoring_range_sends_the_whole_file_which_replaces_the_part(server, tmp_path):
    (tmp_path / "archive.zip.part").write_bytes(PAYLOAD[:123_456])
    server.honour_range = False
    path = fetch(remote(server), tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert server.requested("archive.zip") == ["bytes=123456-"]


def test_gives_up_after_the_last_attempt_and_keeps_the_part_file(server, tmp_path):
    server.cut_after["archive.zip"] = 1000
    with pytest.raises(TieError, match=r"failed 1 times.*resume from 1000 bytes"):
        fetch(remote(server), tmp_path, attempts=1)
    assert (tmp_path / "archive.zip.part").stat().st_size == 1000
    assert not (tmp_path / "archive.zip").exists()


def test_present_valid_file_is_not_fetched_again(server, tmp_path):
    fetch(remote(server), tmp_path)
    fetch(remote(server), tmp_path)
    assert server.requested("archive.zip") == [None]


def test_present_file_failing_its_checksum_is_kept_and_named(server, tmp_path):
    placed = tmp_path / "archive.zip"
    placed.write_bytes(PAYLOAD[:-1] + b"x")  # right size, wrong bytes
    with pytest.raises(TieError, match=rf"{placed}.*md5 is .*untouched"):
        fetch(remote(server), tmp_path)
    assert placed.read_bytes() == PAYLOAD[:-1] + b"x"
    assert server.requests == []


def test_corrupted_download_is_rejected_and_discarded(server, tmp_path):
    bad_checksum = "md5:" + "0" * 32
    with pytest.raises(TieError, match=r"download of archive.zip .* md5 is .*expected 0000"):
        fetch(remote(server, checksum=bad_checksum), tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []


def test_download_of_the_wrong_size_is_rejected(server, tmp_path):
    with pytest.raises(TieError, match=rf"size is {SIZE} bytes, expected {SIZE + 1}"):
        fetch(remote(server, checksum=None, size=len(PAYLOAD) + 1), tmp_path)
    assert not (tmp_path / "archive.zip").exists()


def test_missing_file_on_the_server_fails_at_once_naming_the_url(server, tmp_path):
    with pytest.raises(TieError, match=rf"cannot download nothing.zip from {server.url}/nothing"):
        fetch(remote(server, name="nothing.zip"), tmp_path)
    assert server.requested("nothing.zip") == [None]


def test_mirror_replaces_the_url_by_argument_or_environment(server, tmp_path, monkeypatch):
    elsewhere = RemoteFile("archive.zip", "http://127.0.0.1:9/unused.zip", MD5, len(PAYLOAD))
    assert fetch(elsewhere, tmp_path / "a", mirror=server.url + "/").read_bytes() == PAYLOAD
    monkeypatch.setenv(MIRROR_ENV, server.url)
    assert source_url(elsewhere) == f"{server.url}/archive.zip"
    assert fetch(elsewhere, tmp_path / "b").read_bytes() == PAYLOAD
    assert server.requested("archive.zip") == [None, None]


def test_remote_file_rejects_malformed_checksums_and_paths():
    with pytest.raises(ValueError, match="md5:<hex>"):
        RemoteFile("a.zip", "http://127.0.0.1/a.zip", checksum="crc32:1234")
    with pytest.raises(ValueError, match="plain file name"):
        RemoteFile("../a.zip", "http://127.0.0.1/a.zip")


def test_transfer_without_content_length_or_recorded_size_is_not_moved_into_place(server, tmp_path):
    server.send_length = False
    with pytest.raises(TieError, match=r"sent no Content-Length and no size of archive.zip"):
        fetch(remote(server, checksum=None, size=None), tmp_path)
    assert not (tmp_path / "archive.zip").exists()


def test_cut_transfer_without_content_length_resumes_to_the_recorded_size(server, tmp_path):
    server.send_length = False
    server.cut_after["archive.zip"] = 1000
    path = fetch(remote(server, checksum=None), tmp_path, backoff_s=0.01)
    assert path.read_bytes() == PAYLOAD
    assert server.requested("archive.zip") == [None, "bytes=1000-"]


def test_archive_without_checksum_that_fails_its_crc_is_rejected(tmp_path):
    damaged = bytearray(PAYLOAD)
    damaged[len(damaged) // 2] ^= 0xFF  # inside the member's data: its CRC no longer matches
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "archive.zip").write_bytes(bytes(damaged))
    with LocalServer(tmp_path / "served") as server:
        with pytest.raises(TieError, match=r"member vectors.txt .* fails its CRC check"):
            fetch(remote(server, checksum=None, size=None), tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []


@pytest.mark.parametrize("name", ["archive.zip", "vectors.txt.gz"])
def test_damaged_file_in_place_without_checksum_is_fetched_again(server, tmp_path, name):
    good = PAYLOAD if name.endswith(".zip") else gzip.compress(os.urandom(100_000))
    (server.folder / name).write_bytes(good)
    (tmp_path / name).write_bytes(good[: len(good) // 2])  # left by a cut transfer
    path = fetch(remote(server, checksum=None, size=None, name=name), tmp_path)
    assert path.read_bytes() == good
    assert server.requested(name) == [None]


def test_unresolvable_host_fails_at_once_naming_the_mirror_and_the_manual_path(tmp_path, capsys):
    unresolvable = RemoteFile("archive.zip", "http://nonexistent.invalid/archive.zip", MD5, SIZE)
    with pytest.raises(TieError) as failure:
        fetch(unresolvable, tmp_path / "downloads", backoff_s=60)
    message = str(failure.value)
    assert "host name does not resolve" in message
    assert MIRROR_ENV in message
    assert f"by hand at {tmp_path / 'downloads' / 'archive.zip'}" in message
    assert "retrying" not in capsys.readouterr().err


def test_refused_connection_and_client_errors_fail_at_once(server, tmp_path, capsys):
    refused = RemoteFile("a.zip", f"http://127.0.0.1:{free_port()}/a.zip", MD5, SIZE)
    with pytest.raises(TieError, match=r"ConnectionRefusedError.*TIE_DOWNLOAD_MIRROR"):
        fetch(refused, tmp_path, backoff_s=60)
    server.fail_with["archive.zip"] = [403]
    with pytest.raises(TieError, match=r"HTTP 403 Forbidden.*by hand at"):
        fetch(remote(server), tmp_path, backoff_s=60)
    assert server.requested("archive.zip") == [None]
    assert "retrying" not in capsys.readouterr().err


def test_server_errors_are_retried(server, tmp_path):
    server.fail_with["archive.zip"] = [503, 500]
    assert fetch(remote(server), tmp_path, backoff_s=0.01).read_bytes() == PAYLOAD
    assert server.requested("archive.zip") == [None, None, None]
    server.fail_with["archive.zip"] = [502, 502]
    with pytest.raises(TieError, match=r"failed 2 times, last with: HTTP 502.*TIE_DOWNLOAD_MIRROR"):
        fetch(remote(server), tmp_path / "again", attempts=2, backoff_s=0.01)


def test_credentials_in_a_mirror_url_never_reach_a_message(server, tmp_path):
    mirror = server.url.replace("http://", "http://alice:pa55word@")
    with pytest.raises(TieError) as failure:
        fetch(remote(server, name="nothing.zip"), tmp_path, mirror=mirror)
    assert "pa55word" not in str(failure.value) and "alice" not in str(failure.value)
