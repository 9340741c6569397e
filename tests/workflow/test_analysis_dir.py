"""Analysis directories (`hepml init`) and a user's config that replaces the demo's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_helpers import ROOT, require_hepml, snakemake_env

from hepml.cli.app import main
from hepml.config import load_config
from hepml.exceptions import HepmlError
from hepml.workflow.analysis import init_analysis, workflow_snakefile

DEMO_SAMPLES = {"vbf_h", "dy", "ttbar"}


def test_init_creates_a_deployable_analysis(tmp_path, capsys):
    target = tmp_path / "ana"
    assert main(["init", str(target)]) == 0
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        ".gitignore",
        "config/config.yaml",
        "profiles/htcondor/config.yaml",
        "profiles/local/config.yaml",
        "profiles/slurm/config.yaml",
        "workflow/Snakefile",
    ]
    snakefile = (target / "workflow" / "Snakefile").read_text()
    assert "module hepml:" in snakefile and "use rule * from hepml" in snakefile
    assert Path(workflow_snakefile()).is_file()
    template = yaml.safe_load((target / "config" / "config.yaml").read_text())
    assert "demo" not in template  # nothing of the demo in a new analysis
    assert (
        "snakemake --profile profiles/slurm" in (target / "profiles/slurm/config.yaml").read_text()
    )
    # the template is a valid config once its files exist: only the globs fail
    with pytest.raises(HepmlError, match=r"sample 'signal': no file matches '/path/to/signal"):
        from hepml.workflow.plan import workflow_plan

        workflow_plan([target / "config" / "config.yaml"])
    assert load_config(target / "config" / "config.yaml").training.folds == 5


def test_init_never_overwrites(tmp_path, capsys):
    target = tmp_path / "ana"
    init_analysis(target)
    (target / "config" / "config.yaml").write_text("mine")
    assert main(["init", str(target)]) == 2
    assert "already an analysis directory" in capsys.readouterr().err
    assert (target / "config" / "config.yaml").read_text() == "mine"
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep")
    assert main(["init", str(tmp_path / "notes")]) == 2
    assert "not empty" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["init", str(tmp_path / "file")]) == 2
    assert (tmp_path / "file").read_text() == "x"


def _user_config(small_config: dict) -> dict:
    """small_config as a user writes it: own samples, own training, no demo."""
    small_config["training"]["xgboost"] = {"n_estimators": 20, "max_depth": 2}
    return small_config


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    require_hepml()
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        env=snakemake_env(),
        check=False,
        cwd=workdir,
    )


def _jobs(dry_run: str) -> dict[str, int]:
    """Rule -> job count from a dry run's job stats table."""
    lines = dry_run.split("Job stats:")[1].splitlines()[3:]
    jobs = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def test_analysis_directory_runs_the_installed_workflow(small_config, tmp_path):
    target = tmp_path / "ana"
    init_analysis(target)
    config = _user_config(small_config)
    (target / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    done = _snakemake(target, "-n", "--cores", "2", "--printshellcmds")
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = _jobs(done.stdout)
    assert jobs["ingest"] == 2 and jobs["train"] == 3 and "make_demo" not in jobs
    assert "--config config/config.yaml" in done.stdout
    assert "config/config.yaml --config" not in done.stdout  # one config file, the user's


def test_configfile_in_the_checkout_replaces_the_demo(small_config, tmp_path):
    """README: `snakemake --configfile my_analysis.yaml` runs the user's config alone."""
    mine = tmp_path / "my_analysis.yaml"
    mine.write_text(yaml.safe_dump(_user_config(small_config), sort_keys=False))
    done = _snakemake(
        tmp_path, "-n", "--cores", "2", "--printshellcmds", "--snakefile",
        str(ROOT / "Snakefile"), "--configfile", str(mine),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = _jobs(done.stdout)
    assert "make_demo" not in jobs and jobs["ingest"] == 2
    assert not any(f"--sample {s}" in done.stdout for s in DEMO_SAMPLES)
    assert "config/config.yaml" not in done.stdout  # the demo's config reaches no job
    assert f"--config {mine}" in done.stdout


def test_config_changed_in_python_is_refused(small_config, tmp_path):
    """Jobs read the config files: a Snakefile that edits `config` would split the run."""
    target = tmp_path / "ana"
    init_analysis(target)
    (target / "config" / "config.yaml").write_text(yaml.safe_dump(small_config, sort_keys=False))
    snakefile = target / "workflow" / "Snakefile"
    text = snakefile.read_text().replace(
        "module hepml:", 'config["luminosity"] = 99.0\n\n\nmodule hepml:'
    )
    snakefile.write_text(text)
    done = _snakemake(target, "-n", "--cores", "1")
    assert done.returncode != 0
    assert "differs from what hepml reads from config/config.yaml" in done.stdout + done.stderr


def test_a_config_error_stops_snakemake_with_hepml_s_message(small_config, tmp_path):
    target = tmp_path / "ana"
    init_analysis(target)
    small_config["training"]["fols"] = 3
    (target / "config" / "config.yaml").write_text(yaml.safe_dump(small_config, sort_keys=False))
    done = _snakemake(target, "-n", "--cores", "1")
    assert done.returncode != 0
    assert "unknown key 'training.fols'. Did you mean 'folds'?" in done.stdout + done.stderr
