"""One input file in two samples (or twice in one) is refused before anything is read.

Checked on real files on disk: the same path written differently, symlinks, hard links and
byte-identical copies are found; files that merely share a size are not; nothing is hashed
unless sizes collide, and a FIFO is never opened.
"""

from __future__ import annotations

import copy
import os

import pytest
import yaml

from hepml.cli.app import main
from hepml.config import config_from_dict
from hepml.exceptions import ConfigError
from hepml.ingest import shared_files
from hepml.ingest.shared_files import find_shared_files
from hepml.workflow.plan import sample_file_lists


def _file(path, content: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def files(tmp_path):
    """Three files of different sizes (and contents)."""
    return [_file(tmp_path / "a" / f"f{i}.root", b"x" * (10 + i)) for i in range(3)]


def _message(mapping) -> str:
    with pytest.raises(ConfigError) as info:
        find_shared_files(mapping)
    return str(info.value)


def test_distinct_files_pass(files):
    find_shared_files({"sig": [files[0]], "bkg": files[1:]})


def test_one_path_in_signal_and_background_is_refused(files, tmp_path):
    written_differently = tmp_path / "a" / ".." / "a" / "f1.root"
    message = _message({"sig": [files[0], files[1]], "bkg": [written_differently, files[2]]})
    assert "samples 'sig' and 'bkg' both list" in message
    assert str(files[1]) in message and str(written_differently) in message
    assert "same file" in message


def test_symlink_and_hard_link_are_the_same_file(files, tmp_path):
    link = tmp_path / "elsewhere" / "link.root"
    link.parent.mkdir()
    link.symlink_to(files[0])
    assert "same file" in _message({"sig": [files[0]], "bkg": [link]})
    hard = tmp_path / "elsewhere" / "hard.root"
    os.link(files[1], hard)
    assert "same file" in _message({"sig": [files[1]], "bkg": [hard]})


def test_identical_copy_is_refused_and_same_size_different_content_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(shared_files, "BLOCK_BYTES", 16)  # several blocks per file
    original = _file(tmp_path / "x" / "data.root", bytes(range(100)) * 3)
    copy_ = _file(tmp_path / "y" / "copy.root", bytes(range(100)) * 3)
    last_byte_differs = _file(
        tmp_path / "z" / "other.root", bytes(range(100)) * 2 + bytes(99) + b"!"
    )
    find_shared_files({"sig": [original], "bkg": [last_byte_differs]})
    message = _message({"sig": [original], "bkg": [last_byte_differs, copy_]})
    assert "identical contents" in message
    assert str(original) in message and str(copy_) in message


def test_the_same_file_twice_in_one_sample_is_refused(files, tmp_path):
    link = tmp_path / "link.root"
    link.symlink_to(files[0])
    message = _message({"bkg": [files[0], files[1], link]})
    assert "sample 'bkg' lists" in message
    assert "counted twice" in message


def test_only_files_of_colliding_sizes_are_hashed(files, tmp_path, monkeypatch):
    hashed = []
    real = shared_files._sha256
    monkeypatch.setattr(shared_files, "_sha256", lambda p: hashed.append(p) or real(p))
    find_shared_files({"sig": [files[0]], "bkg": files[1:]})
    assert hashed == []
    same_size = _file(tmp_path / "b" / "g.root", b"y" * 10)  # the size of files[0]
    find_shared_files({"sig": [files[0]], "bkg": [same_size, *files[1:]]})
    assert sorted(hashed) == sorted([str(files[0]), str(same_size)])


def test_fifo_missing_and_empty_files_are_left_to_the_reader(files, tmp_path):
    fifo = tmp_path / "pipe.root"
    os.mkfifo(fifo)
    empty = [_file(tmp_path / f"e{i}.root", b"") for i in range(2)]
    find_shared_files(
        {"sig": [files[0], fifo, empty[0]], "bkg": [tmp_path / "missing.root", empty[1]]}
    )


def test_remote_urls_compare_as_text():
    url = "root://eos.example.org//store/x.root"
    find_shared_files({"sig": [url], "bkg": ["root://eos.example.org//store/y.root"]})
    assert url in _message({"sig": [url], "bkg": [url]})


CONFIG = {
    "samples": {
        "sig": {"label": "signal", "files": "PLACEHOLDER"},
        "bkg": {"label": "background", "files": ["PLACEHOLDER"]},
    },
    "features": [{"name": "x", "expr": "x"}],
    "training": {},
}


def test_sample_files_expands_globs_tree_suffixes_and_apply_samples(files, tmp_path):
    data = copy.deepcopy(CONFIG)
    data["samples"]["sig"]["files"] = str(tmp_path / "a" / "f0.root") + ":events"
    data["samples"]["bkg"]["files"] = [str(tmp_path / "a" / "f[12].root")]
    data["apply"] = {"samples": {"extra": {"files": str(tmp_path / "a" / "*.root")}}}
    found = sample_file_lists(config_from_dict(data))
    assert found == {
        "sig": [str(files[0]) + ":events"],
        "bkg": [str(files[1]), str(files[2])],
        "extra": [str(f) for f in files],
    }
    with pytest.raises(ConfigError, match=r"samples 'sig' and 'extra' both list"):
        find_shared_files({k: [p.removesuffix(":events") for p in v] for k, v in found.items()})
    # validation checks only the samples that are counted: apply.samples are only scored
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", "--config", str(path)]) == 0


def test_validate_refuses_shared_files(files, tmp_path, capsys):
    data = copy.deepcopy(CONFIG)
    data["samples"]["sig"]["files"] = str(files[0])
    data["samples"]["bkg"]["files"] = [str(tmp_path / "a" / "*.root")]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "samples 'bkg' and 'sig' both list" in err  # in the order of the (sorted) YAML
    assert "Traceback" not in err
    data["samples"]["bkg"]["files"] = [str(f) for f in files[1:]]
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", "--config", str(path)]) == 0


def test_a_file_not_written_yet_is_the_same_file_under_the_same_path(tmp_path):
    """Demo files are planned before the demo rule writes them: a path is still a path."""
    later = tmp_path / "demo" / "x_0.root"
    with pytest.raises(ConfigError, match=r"samples 'sig' and 'data' both list"):
        find_shared_files(
            {"sig": [later], "data": [tmp_path / "demo" / ".." / "demo" / "x_0.root"]}
        )
    find_shared_files({"sig": [later], "data": [tmp_path / "demo" / "x_1.root"]})
