"""Output ownership: no hepml command destroys or overwrites what hepml did not write.

Each hostile case puts something precious where a command writes (the results tree, the input
ntuples, a user's file with an output's name) and checks that the command refuses with one
line, exit status 2, and that every byte is still there. Reruns into hepml's own outputs work.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import uproot
import yaml
from conftest import write_ntuple
from pipeline_helpers import _export_argv, _models, _refused, _tables, build_trained

from hepml.atomic import atomic_directory, atomic_path, output_error, write_text
from hepml.cli.app import main
from hepml.exceptions import HepmlError, OutputConflict
from hepml.outputs import LEDGER, check_outputs, is_ours


def snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (hidden ones included), by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """ingest + 3 fold models over small ntuples, with a config file (read-only for tests)."""
    return build_trained(tmp_path_factory.mktemp("trained"))


def test_a_file_hepml_wrote_is_recorded_and_may_be_rewritten(tmp_path):
    target = tmp_path / "out" / "a.txt"
    write_text(target, "one\n")
    assert is_ours(target)
    entry = target.parent / LEDGER / "a.txt.sha256"
    digest = hashlib.sha256(b"one\n").hexdigest()
    assert entry.read_text() == f"{digest}  a.txt\n"  # sha256sum's format
    write_text(target, "two\n")  # ours: replaced
    assert target.read_text() == "two\n" and is_ours(target)


@pytest.mark.parametrize("how", ["foreign", "edited", "symlink", "directory", "fifo"])
def test_atomic_path_never_replaces_what_hepml_did_not_write(tmp_path, how):
    target = tmp_path / "a.txt"
    precious = tmp_path / "precious.txt"
    precious.write_text("the user's\n")
    if how == "foreign":
        target.write_text("the user's\n")
    elif how == "edited":
        write_text(target, "hepml's\n")
        target.write_text("edited by hand\n")
    elif how == "symlink":
        target.symlink_to(precious)
    elif how == "directory":
        target.mkdir()
        (target / "x").write_text("x")
    else:
        import os

        os.mkfifo(target)
    before = snapshot(tmp_path)
    with pytest.raises(OutputConflict, match=r"a\.txt"), atomic_path(target) as tmp:
        tmp.write_text("new\n")
    assert snapshot(tmp_path) == before
    assert not list(tmp_path.glob(".a.txt.*"))  # no temporary left


def test_wholesale_directory_replaces_only_its_own_kind(tmp_path):
    target = tmp_path / "d"
    with atomic_directory(target, "export") as tmp:
        (tmp / "a.json").write_text("{}")
    assert (target / LEDGER / "wholesale").read_text() == "hepml export\n"
    with atomic_directory(target, "export") as tmp:  # a rerun replaces it
        (tmp / "b.json").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == [LEDGER, "b.json"]
    with pytest.raises(OutputConflict, match="hepml export, not hepml apply"):
        atomic_directory(target, "apply").__enter__()
    (target / "notes.txt").write_text("mine")  # a user's file put inside
    with pytest.raises(OutputConflict, match=r"notes\.txt"):
        atomic_directory(target, "export").__enter__()
    assert (target / "notes.txt").read_text() == "mine"


def test_overlaps_of_outputs_and_inputs_are_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    ntuple = data / "a.root"
    ntuple.write_bytes(b"x")
    with pytest.raises(OutputConflict, match="is also an input"):
        check_outputs(files=[ntuple], inputs=[ntuple])
    link = tmp_path / "link.root"
    link.symlink_to(ntuple)
    with pytest.raises(OutputConflict, match="is also an input"):
        check_outputs(files=[link], inputs=[ntuple])  # the same file through a link
    with pytest.raises(OutputConflict, match="would contain the input"):
        check_outputs(directories={tmp_path: "export"}, inputs=[ntuple])
    with pytest.raises(OutputConflict, match="inside the input directory"):
        check_outputs(files=[data / "b.csv"], input_directories=[data])
    with pytest.raises(OutputConflict, match="given twice"):
        check_outputs(files=[tmp_path / "o.csv", tmp_path / "." / "o.csv"])
    check_outputs(files=[tmp_path / "new.csv"], inputs=[ntuple])  # no overlap: fine


# -------------------------------------------------------------- hostile cases, by command


def test_export_into_the_results_tree_is_refused(trained, tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(trained["base"] / "train", results / "train")
    (results / "notes.md").write_text("my notes")
    before = snapshot(results)
    assert main(_export_argv(trained, results)) == 2
    _refused(capsys, str(results))
    assert snapshot(results) == before


def test_export_into_the_directory_of_its_own_models_is_refused(trained, capsys):
    fold0 = trained["models"][0].parent
    before = snapshot(fold0)
    assert main(_export_argv(trained, fold0)) == 2
    _refused(capsys, str(fold0))
    assert snapshot(fold0) == before


def test_export_twice_replaces_its_own_directory(trained, tmp_path, capsys):
    out = tmp_path / "export"
    assert main(_export_argv(trained, out)) == 0
    first = snapshot(out)
    assert main(_export_argv(trained, out)) == 0
    assert snapshot(out) == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_apply_into_the_data_directory_is_refused(trained, tmp_path, capsys):
    """`hepml apply --output-dir DIR` with the sample's ntuples in DIR/<sample>/."""
    data = tmp_path / "DIR"
    (data / "extra").mkdir(parents=True)
    for name in ("sig_0.root", "sig_1.root"):
        shutil.copy(trained["base"] / name, data / "extra" / name)
    (data / "extra" / "README").write_text("unrelated")
    config = dict(trained["config_dict"], apply={"samples": {"extra": {
        "files": str(data / "extra" / "*.root")}}})  # fmt: skip
    config_file = tmp_path / "c.yaml"
    config_file.write_text(yaml.safe_dump(config))
    before = snapshot(data)
    argv = ["apply", "-c", str(config_file), "--sample", "extra", "--models", *_models(trained),
            "--output-dir", str(data)]  # fmt: skip
    assert main(argv) == 2
    _refused(capsys, str(data / "extra"))
    assert snapshot(data) == before


def test_apply_over_a_foreign_directory_or_summary_is_refused(trained, tmp_path, capsys):
    out = tmp_path / "apply"
    argv = ["apply", "-c", str(trained["config_file"]), "--sample", "sig",
            "--models", *_models(trained), "--output-dir", str(out)]  # fmt: skip
    (out / "sig").mkdir(parents=True)
    (out / "sig" / "mine.txt").write_text("mine")
    assert main(argv) == 2
    _refused(capsys, str(out / "sig"))
    shutil.rmtree(out / "sig")
    (out / "sig.json").write_text("my own json")
    assert main(argv) == 2
    _refused(capsys, str(out / "sig.json"))
    assert (out / "sig.json").read_text() == "my own json"
    assert not (out / "sig").exists() and not (out / "sig.parquet").exists()  # nothing written
    (out / "sig.json").unlink()
    assert main(argv) == 0  # the directory it made itself: rerun replaces it
    first = snapshot(out)
    assert main(argv) == 0
    second = snapshot(out)
    assert second.keys() == first.keys()
    for name in first:  # ROOT files hold their creation time: compare those by content
        if ".root" not in name:
            assert second[name] == first[name], name
    for name in ("sig_0.root", "sig_1.root"):
        with uproot.open(out / "sig" / name) as friend:
            assert friend["hepml"].num_entries == 1500


def test_ingest_onto_its_input_or_a_foreign_file_is_refused(trained, tmp_path, capsys):
    source = trained["base"] / "sig_0.root"
    before = source.read_bytes()
    argv = ["ingest", "-c", str(trained["config_file"]), "--sample", "sig",
            "--cutflow", str(tmp_path / "cutflow.csv")]  # fmt: skip
    assert main([*argv, "--output", str(source)]) == 2
    _refused(capsys, "sig_0.root", "input")
    assert source.read_bytes() == before
    foreign = tmp_path / "other.parquet"
    foreign.write_bytes(b"someone else's table")
    assert main([*argv, "--output", str(foreign)]) == 2
    _refused(capsys, str(foreign))
    assert foreign.read_bytes() == b"someone else's table"
    assert not (tmp_path / "cutflow.csv").exists()
    assert main([*argv, "--output", str(tmp_path / "a.parquet"),
                 "--summary", str(tmp_path / "a.parquet")]) == 2  # fmt: skip
    _refused(capsys, "twice")
    assert main([*argv, "--output", str(tmp_path / "sig.parquet")]) == 0
    assert main([*argv, "--output", str(tmp_path / "sig.parquet")]) == 0  # its own: rerun


def test_score_never_replaces_a_foreign_file_of_the_same_name(trained, tmp_path, capsys):
    export_dir = tmp_path / "export"
    assert main(_export_argv(trained, export_dir)) == 0
    out = tmp_path / "scored"
    out.mkdir()
    (out / "sig_0.root").write_bytes(b"a user's ntuple, also called sig_0.root")
    argv = ["score", str(trained["base"] / "sig_0.root"), "--export-dir", str(export_dir)]
    assert main([*argv, "--output-dir", str(out)]) == 2
    _refused(capsys, str(out / "sig_0.root"))
    assert (out / "sig_0.root").read_bytes() == b"a user's ntuple, also called sig_0.root"
    assert main([*argv, "--output-dir", str(export_dir)]) == 2  # into the export it reads
    _refused(capsys, str(export_dir))
    scored = tmp_path / "scored2"
    assert main([*argv, "--output-dir", str(scored)]) == 0
    assert main([*argv, "--output-dir", str(scored)]) == 0  # its own friend file: rerun


def test_train_never_overwrites_a_foreign_model(trained, tmp_path, capsys):
    out = tmp_path / "fold0"
    out.mkdir()
    (out / "model.json").write_text('{"my": "model"}')
    argv = ["train", "-c", str(trained["config_file"]), "--fold", "0",
            "--tables", *_tables(trained), "--output-dir", str(out)]  # fmt: skip
    assert main(argv) == 2
    _refused(capsys, str(out / "model.json"))
    assert sorted(p.name for p in out.iterdir()) == ["model.json"]


def test_make_demo_never_overwrites_a_users_file(tmp_path, capsys):
    directory = tmp_path / "mydata"
    write_ntuple(directory / "ttbar_0.root", 10, seed=1, signal=False)
    (directory / "other.txt").write_text("other")
    before = snapshot(directory)
    argv = ["make-demo", "--directory", str(directory), "--events", "900",
            "--files-per-process", "1"]  # fmt: skip
    assert main(argv) == 2
    _refused(capsys, "ttbar_0.root")
    assert snapshot(directory) == before
    assert main(["make-demo", "--directory", str(tmp_path / "demo"), "--events", "900",
                 "--files-per-process", "1"]) == 0  # fmt: skip
    assert uproot.open(tmp_path / "demo" / "dy_0.root")["events"].num_entries > 0


def test_compare_csv_onto_a_compared_table_is_refused(tmp_path, capsys):
    for run in ("a", "b"):
        (tmp_path / run / "evaluation").mkdir(parents=True)
        (tmp_path / run / "evaluation" / "metrics.csv").write_text("classifier,auc\nx,0.9\n")
    target = tmp_path / "a" / "evaluation" / "metrics.csv"
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"),
                 "--csv", str(target)]) == 2  # fmt: skip
    _refused(capsys, str(target))
    assert target.read_text() == "classifier,auc\nx,0.9\n"


def test_refusals_are_hepml_errors():
    assert issubclass(OutputConflict, HepmlError)


# ------------------------------------------------------------ a full disk, a denied write


@pytest.fixture
def tiny_disk(tmp_path):
    """A 96 KiB tmpfs (mounting needs root; skipped otherwise): a disk that fills up."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    if run.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {run.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_disk_full_during_export_is_one_line_and_leaves_nothing(trained, tiny_disk, capsys):
    out = tiny_disk / "export"
    assert main(_export_argv(trained, out)) == 2  # three models of ~40 KB each do not fit
    _refused(capsys, f"cannot write '{out}'", "No space left on device")
    assert _files(tiny_disk) == []
    assert not [p for p in tiny_disk.iterdir() if p.name != LEDGER]


def test_disk_full_during_ingest_is_one_line_and_leaves_nothing(trained, tiny_disk, capsys):
    (tiny_disk / "ballast").write_bytes(b"x" * 90 * 1024)  # leave ~6 KiB free
    out = tiny_disk / "sig.parquet"
    argv = ["ingest", "-c", str(trained["config_file"]), "--sample", "sig", "--output", str(out),
            "--cutflow", str(tiny_disk / "sig.csv")]  # fmt: skip
    assert main(argv) == 2
    _refused(capsys, f"cannot write '{out}'", "No space left on device")
    assert _files(tiny_disk) == ["ballast"]


def test_read_only_output_is_one_line(trained, tiny_disk, capsys):
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    out = tiny_disk / "results" / "sig.parquet"
    argv = ["ingest", "-c", str(trained["config_file"]), "--sample", "sig", "--output", str(out),
            "--cutflow", str(tiny_disk / "sig.csv")]  # fmt: skip
    assert main(argv) == 2
    _refused(capsys, f"cannot write '{out}'", "Read-only file system")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_full_disk_while_writing_parquet_is_one_line(trained, tmp_path, capsys, monkeypatch, code):
    """Without root: the Parquet writer fails as on a full disk (as pyarrow reports it)."""

    def full(self, *args, **kwargs):
        raise OSError(code, f"Error writing bytes to file. Detail: [errno {code}]")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    out = tmp_path / "out" / "sig.parquet"
    argv = ["ingest", "-c", str(trained["config_file"]), "--sample", "sig", "--output", str(out),
            "--cutflow", str(tmp_path / "out" / "sig.csv")]  # fmt: skip
    assert main(argv) == 2
    _refused(capsys, f"cannot write '{out}'", os.strerror(code))
    assert _files(tmp_path / "out") == []


def test_permission_denied_on_the_output_directory_is_one_line(trained, tmp_path, capsys,
                                                               monkeypatch):  # fmt: skip
    """As root the kernel grants every write: the refusal is simulated where it would come."""
    real = tempfile.mkstemp

    def denied(suffix=None, prefix=None, dir=None, **kwargs):
        if dir is not None and Path(dir).name == "locked":  # as mkstemp reports it
            name = str(Path(dir) / f"{prefix}k3x9q{suffix}")
            raise PermissionError(errno.EACCES, "Permission denied", name)
        return real(suffix=suffix, prefix=prefix, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    out = tmp_path / "locked" / "sig.parquet"
    argv = ["ingest", "-c", str(trained["config_file"]), "--sample", "sig", "--output", str(out),
            "--cutflow", str(tmp_path / "locked" / "sig.csv")]  # fmt: skip
    assert main(argv) == 2
    _refused(capsys, f"cannot write '{out}'", "Permission denied")
    assert _files(tmp_path / "locked") == []


def test_an_unreadable_input_is_not_reported_as_an_output_error(tmp_path):
    target = tmp_path / "out.txt"
    err = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "elsewhere" / "in"))
    assert output_error(err, target) is None  # the input's own error passes through
    assert output_error(OSError(errno.ENOSPC, "No space left on device"), target) is not None
