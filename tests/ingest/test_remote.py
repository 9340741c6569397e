"""Remote input files: http:// served from 127.0.0.1 (the files of ../shared/data) and
root:// from a local XRootD server; globs, retries with back-off, clear errors naming the URL."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil

import pyarrow.parquet as pq
import pytest
from remote_helpers import Faults, http_server, xrootd_missing, xrootd_server

from hepml.config import config_from_dict
from hepml.exceptions import InputFileError
from hepml.ingest import remote
from hepml.ingest.files import resolve_files
from hepml.ingest.sample import ingest_sample, summary_of
from hepml.workflow.plan import workflow_plan

TUTORIAL = "cms-hep-tutorial"
FEATURES = {"met": "sqrt(MET_px**2 + MET_py**2)", "n_jets": "NJet", "n_mu": "NMuon"}

needs_http_client = pytest.mark.skipif(
    importlib.util.find_spec("aiohttp") is None,
    reason="reading http(s):// needs aiohttp (pip install -e '.[remote]')",
)


def tutorial_config(files, **reading) -> dict:
    return {
        "luminosity": 10.0,
        "event_number": None,
        "reading": {"retries": 3, "retry_wait": 0.01, "step_size": 500, **reading},
        "samples": {
            "real": {"label": "signal", "files": files, "weight": "EventWeight"},
            "other": {"label": "background", "files": "unused.root"},
        },
        "selection": [{"name": "has_jet", "expr": "NJet >= 1"}],
        "features": [{"name": k, "expr": v} for k, v in FEATURES.items()],
        "training": {"folds": 3},
    }


def ingest(config: dict, out, files=None):
    return ingest_sample(config_from_dict(config), "real", out, files=files)


@pytest.fixture
def local_reference(shared_data, tmp_path):
    """The two smallest tutorial files ingested from disk: the table every remote read must
    reproduce byte for byte."""
    files = [str(shared_data / TUTORIAL / f) for f in ("wz.root", "zz.root")]
    ingest(tutorial_config(files), tmp_path / "local.parquet")
    return (tmp_path / "local.parquet").read_bytes()


@pytest.fixture(autouse=True)
def _default_policy():
    yield
    remote.configure(3, 2.0)  # the schema's defaults: other tests see no leftover policy


@needs_http_client
def test_http_files_and_glob_read_like_local_files(shared_data, local_reference, tmp_path):
    with http_server(shared_data) as base:
        pattern = f"{base}/{TUTORIAL}/[wz]z.root"  # the server's index page lists the files
        matched = resolve_files("real", (pattern,), "events")
        assert [f.path for f in matched] == [
            f"{base}/{TUTORIAL}/wz.root",
            f"{base}/{TUTORIAL}/zz.root",
        ]
        result = ingest(tutorial_config(pattern), tmp_path / "http.parquet")
    assert (tmp_path / "http.parquet").read_bytes() == local_reference
    assert summary_of(result)["files"][0] == f"{base}/{TUTORIAL}/wz.root:events"


@needs_http_client
@pytest.mark.parametrize("mode", ["503", "drop"])
def test_transient_failures_are_retried_and_reads_resume(
    shared_data, local_reference, tmp_path, caplog, mode
):
    """Data requests 1, 2 (opening) and 9 (mid-read) fail once: the file is opened again and
    the read resumes at the first entry not yet read; the table is unchanged."""
    faults = Faults(fail={1, 2, 9}, mode=mode)
    files = [f"{TUTORIAL}/wz.root", f"{TUTORIAL}/zz.root"]
    with caplog.at_level(logging.WARNING), http_server(shared_data, faults) as base:
        ingest(tutorial_config([f"{base}/{f}" for f in files]), tmp_path / "flaky.parquet")
    assert faults.failed == 3
    assert (tmp_path / "flaky.parquet").read_bytes() == local_reference
    assert "attempt 2 of 4" in caplog.text or "resuming there" in caplog.text


@needs_http_client
def test_a_server_that_keeps_failing_stops_the_run_naming_the_url(shared_data, tmp_path):
    with http_server(shared_data, Faults(all=True)) as base:
        url = f"{base}/{TUTORIAL}/wz.root"
        config = tutorial_config(url, retries=2)
        config["samples"]["real"]["on_bad_file"] = "skip"  # not a bad file: never skipped
        with pytest.raises(InputFileError, match=r"failed 3 time\(s\)") as err:
            ingest(config, tmp_path / "out.parquet")
    assert url in str(err.value) and "503" in str(err.value)
    assert not (tmp_path / "out.parquet").exists()


@needs_http_client
def test_missing_file_unreachable_server_and_unlistable_glob_name_the_url(shared_data, tmp_path):
    with http_server(shared_data) as base:
        missing = f"{base}/{TUTORIAL}/nope.root"
        with pytest.raises(InputFileError, match="does not exist") as err:
            ingest(tutorial_config(missing), tmp_path / "a.parquet")
        assert missing in str(err.value)
        with pytest.raises(InputFileError, match="no file matches") as err:
            resolve_files("real", (f"{base}/{TUTORIAL}/*.nothing",), "events")
    # the server is gone: connection refused, retried, then an error naming the URL
    with pytest.raises(InputFileError, match=r"failed 4 time\(s\).*rerun later") as err:
        ingest(tutorial_config(f"{base}/{TUTORIAL}/wz.root"), tmp_path / "b.parquet")
    assert f"{base}/{TUTORIAL}/wz.root" in str(err.value)


def test_plan_gives_each_job_the_urls_and_snakemake_only_local_inputs(shared_data, tmp_path):
    local = str(shared_data / TUTORIAL / "ww.root")
    urls = ["root://eos.example//store/a.root", "https://example.org/b.root"]
    config = tutorial_config([local, *urls])
    config["samples"]["other"]["files"] = str(shared_data / TUTORIAL / "qcd.root")
    config["reading"]["files_per_job"] = 2
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    plan = workflow_plan([path])
    parts = plan["parts"]["real"]
    assert [p["files"] for p in parts] == [
        [local, "root://eos.example//store/a.root"],
        ["https://example.org/b.root"],
    ]
    assert [p["first"] for p in parts] == [0, 2]
    assert [p["inputs"] for p in parts] == [[local], []]  # Snakemake's inputs: local files only
    assert plan["inputs"]["real"] == [local]


def test_xrootd_files_and_glob_read_like_local_files(shared_data, local_reference, tmp_path):
    why = xrootd_missing()
    if why:
        pytest.skip(why)
    served = tmp_path / "served"
    served.mkdir()
    for name in ("wz.root", "zz.root"):
        shutil.copy(shared_data / TUTORIAL / name, served / name)
    with xrootd_server(served, tmp_path / "xrootd") as base:
        pattern = f"{base}/{served}/*.root"
        matched = resolve_files("real", (pattern,), "events")
        assert [f.path for f in matched] == [f"{base}/{served}/{n}" for n in ("wz.root", "zz.root")]
        ingest(tutorial_config(pattern), tmp_path / "xrootd.parquet")
        with pytest.raises(InputFileError) as err:
            ingest(tutorial_config(f"{base}/{served}/nope.root"), tmp_path / "x.parquet")
        assert f"{base}/{served}/nope.root" in str(err.value)
    assert (tmp_path / "xrootd.parquet").read_bytes() == local_reference
    assert pq.read_table(tmp_path / "xrootd.parquet").num_rows > 100


def test_transient_errors_are_told_from_permanent_ones():
    class Response(OSError):
        def __init__(self, status):
            super().__init__(f"HTTP {status}")
            self.status = status

    Response.__module__ = "aiohttp.client_exceptions"
    assert remote.is_transient(ConnectionResetError())
    assert remote.is_transient(TimeoutError())
    assert remote.is_transient(Response(503)) and not remote.is_transient(Response(403))
    assert remote.is_transient(OSError("[FATAL] Socket timeout"))
    assert not remote.is_transient(OSError("[ERROR] Server responded with an error: [3011]"))
    assert not remote.is_transient(FileNotFoundError("gone"))
    wrapped = ValueError("uproot")
    wrapped.__cause__ = ConnectionRefusedError()
    assert remote.is_transient(wrapped)
