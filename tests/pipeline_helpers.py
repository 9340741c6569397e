"""A small trained pipeline (ingest -> train -> models) and the readers its tests share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import uproot
import yaml
from conftest import make_small_config, write_ntuple

from hepml.apply.samples import is_training_sample
from hepml.config import config_from_dict
from hepml.ingest.sample import ingest_sample
from hepml.models import check_models, read_training_models
from hepml.tables.features import load_dataset
from hepml.train.bdt import train_fold, write_fold


def build_pipeline(config_dict: dict, tmp_path: Path) -> dict:
    """ingest -> train every fold, as the workflow does; return the paths and the config."""
    cfg = config_from_dict(config_dict)
    mc = [name for name in cfg.samples if is_training_sample(cfg, name)]
    tables = {name: tmp_path / "ingest" / f"{name}.parquet" for name in mc}
    for name, path in tables.items():
        ingest_sample(cfg, name, path)
    data = load_dataset(tables, cfg.feature_names)
    for k in range(cfg.training.folds):
        write_fold(train_fold(cfg, data, k), tmp_path / "train" / f"fold{k}")
    return {
        "config": cfg,
        "tables": tables,
        "models": [
            tmp_path / "train" / f"fold{k}" / "model.json" for k in range(cfg.training.folds)
        ],
        "scores": [
            tmp_path / "train" / f"fold{k}" / "scores.parquet" for k in range(cfg.training.folds)
        ],
        "out": tmp_path / "apply",
    }


def load_models(p: dict, cfg=None):
    cfg = cfg or p["config"]
    return check_models(cfg, read_training_models(p["models"]))


def friend_arrays(path: Path, tree: str = "hepml") -> dict[str, np.ndarray]:
    with uproot.open(path) as f:
        assert f.classnames()[f"{tree};1"] == "TTree"  # a TTree, not an RNTuple
        return f[tree].arrays(library="np")


def truncated_ntuple(path, seed: int, *, keep: float = 2 / 3) -> None:
    """A signal ntuple cut to ``keep`` of its bytes. At 2/3 its tree still opens (uproot
    writes the tree's metadata first) and reading its first chunk fails; at 1/10 the tree
    cannot be read at all, so the up-front checks catch it."""
    write_ntuple(path, 900, seed=seed, signal=True)
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def build_trained(base: Path) -> dict:
    """:func:`test_apply.build_pipeline` on the small config in ``base``, plus its file."""
    config = make_small_config(base)
    pipeline = build_pipeline(config, base)
    config_file = base / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    pipeline.update(base=base, config_file=config_file, config_dict=config)
    return pipeline


def _export_argv(p, out) -> list[str]:
    return ["export", "-c", str(p["config_file"]), "--models", *_models(p),
            "--scores", *map(str, p["scores"]), "--tables", *_tables(p),
            "--output-dir", str(out), "--onnx", "no", "--closure-events", "200"]  # fmt: skip


def _refused(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------- the mechanism


def _models(p) -> list[str]:
    return [str(m) for m in p["models"]]


def _tables(p) -> list[str]:
    return [f"{s}={t}" for s, t in p["tables"].items()]
