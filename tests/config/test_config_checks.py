"""Config mistakes refused at validation, before anything is read or trained.

Each case here used to pass validation and then give a silently wrong number (a feature named
``e``, a data sample normalised like MC, a sample dropped by a duplicated YAML key), a
traceback after training (a seed XGBoost refuses, a label matplotlib cannot draw), or a hang
(a YAML alias bomb, a FIFO as config file).
"""

from __future__ import annotations

import copy
import os
import threading

import numpy as np
import pytest
import yaml
from conftest import ROOT

from hepml.config import config_from_dict, load_config
from hepml.exceptions import ConfigError

BASE = {
    "samples": {
        "sig": {"label": "signal", "files": "s.root", "cross_section": 1.0},
        "bkg": {"label": "background", "files": ["b.root"], "cross_section": 3.0},
    },
    "features": [{"name": "x", "expr": "x"}],
    "training": {},
}


def _error(mutate) -> str:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, source="c.yaml")
    message = str(info.value)
    assert message.startswith("c.yaml: ")
    return message


def _write(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- names expressions use


@pytest.mark.parametrize("name", ["e", "pi", "inf", "nan", "True", "False", "None", "if", "and"])
def test_feature_named_like_a_constant_or_keyword_is_refused(name):
    message = _error(lambda d: d["features"].append({"name": name, "expr": "x * 2"}))
    assert f"features[1].name = '{name}' is reserved" in message
    assert "pi" in message and "True" in message  # the reserved names are listed


@pytest.mark.parametrize("name", ["e", "pi", "None"])
def test_alias_named_like_a_constant_or_keyword_is_refused(name):
    message = _error(lambda d: d["samples"]["sig"].update(aliases={name: "x"}))
    assert f"samples.sig.aliases.{name} = '{name}' is reserved" in message
    extra = {"files": "d.root", "aliases": {name: "y"}}
    message = _error(lambda d: d.update(apply={"samples": {"extra": extra}}))
    assert f"apply.samples.extra.aliases.{name} = '{name}' is reserved" in message


def test_feature_named_like_a_function_is_accepted():
    data = copy.deepcopy(BASE)
    data["features"] = [{"name": "sum", "expr": "x"}, {"name": "y", "expr": "sum + sum(J)"}]
    assert config_from_dict(data).feature_names == ["sum", "y"]


# ---------------------------------------------------------------- samples


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cross_section", 1.5),
        ("sum_of_weights", 1000.0),
        ("sum_of_weights", {"tree": "Runs", "branch": "genEventSumw"}),
        ("generator_weight", "genWeight"),
    ],
)
def test_data_sample_with_mc_normalisation_is_refused(key, value):
    def mutate(d):
        d["samples"]["data"] = {"label": "data", "files": "d.root", key: value}

    message = _error(mutate)
    assert f"samples.data.{key}" in message
    assert "label 'data'" in message


def test_data_sample_with_its_own_weight_is_accepted():
    data = copy.deepcopy(BASE)
    data["samples"]["data"] = {"label": "data", "files": "d.root", "weight": "prescale"}
    assert config_from_dict(data).samples["data"].weight == "prescale"


@pytest.mark.parametrize("other", ["sig", "data"])
def test_one_process_for_samples_of_different_labels_is_refused(other):
    def mutate(d):
        d["samples"]["data"] = {"label": "data", "files": "d.root"}
        d["samples"]["bkg"]["process"] = other

    message = _error(mutate)
    assert f"process '{other}'" in message
    assert "'bkg' (background)" in message
    assert f"'{other}' ({'signal' if other == 'sig' else 'data'})" in message


def test_one_process_for_several_backgrounds_is_accepted():
    data = copy.deepcopy(BASE)
    data["samples"]["bkg2"] = {"label": "background", "files": "c.root", "process": "bkg"}
    assert config_from_dict(data).samples["bkg2"].process == "bkg"


# ---------------------------------------------------------------- numbers that reach XGBoost


def test_seed_beyond_what_the_trainers_accept_is_refused():
    message = _error(lambda d: d.update(seed=42_949_673))
    assert "seed" in message
    assert "42949672" in message


def test_largest_accepted_seed_trains_every_fold_model():
    """seed * 100 + k seeds XGBoost and the scikit-learn baselines (32-bit seeds)."""
    import xgboost as xgb
    from sklearn.utils import check_random_state

    from hepml.train.bdt import xgboost_params

    data = copy.deepcopy(BASE)
    data["seed"] = 42_949_672
    data["training"] = {"folds": 20}
    cfg = config_from_dict(data)
    rng = np.random.default_rng(1)
    matrix = xgb.DMatrix(rng.normal(size=(50, 1)), label=rng.integers(0, 2, 50))
    for k in (0, cfg.training.folds - 1):
        params = xgboost_params(cfg, k, threads=1)
        assert xgb.train(params, matrix, num_boost_round=1).num_boosted_rounds() == 1
        check_random_state(params["seed"])  # what the baselines do with the same seed


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("min_child_weight", 1e300),
        ("lambda", 1e39),
        ("alpha", 1e39),
        ("gamma", 1e39),
        ("max_delta_step", 1e39),
        ("max_leaves", 2**31),
    ],
)
def test_xgboost_numbers_beyond_its_types_are_refused(key, value):
    message = _error(lambda d: d["training"].update(xgboost={key: value}))
    assert f"training.xgboost.{key}" in message


def test_tuned_values_are_bounded_like_fixed_ones():
    tune = {"enabled": True, "space": {"lambda": {"low": 1.0, "high": 1e39, "log": True}}}
    message = _error(lambda d: d["training"].update(tune=tune))
    assert "training.tune.space.lambda" in message


# ---------------------------------------------------------------- YAML files


def test_duplicate_sample_key_is_refused_with_both_lines(tmp_path):
    path = _write(
        tmp_path,
        "samples:\n"
        "  sig: {label: signal, files: s.root}\n"
        "  bkg: {label: background, files: b.root}\n"
        "  bkg: {label: background, files: c.root}\n"
        "features: [{name: x, expr: x}]\n"
        "training: {}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "'bkg'" in message
    assert "line 3" in message and "line 4" in message


@pytest.mark.parametrize(
    "text",
    [
        "seed: 1\nseed: 2\n",
        "training:\n  folds: 3\n  xgboost: {eta: 0.1, eta: 0.2}\n",
        "features:\n  - name: x\n    expr: x\n    expr: y\n",
        "a: 1\n? a\n: 2\n",
    ],
)
def test_duplicate_keys_are_refused_at_any_depth(tmp_path, text):
    with pytest.raises(ConfigError, match=r"(key|twice).*line \d+.*line \d+"):
        load_config(_write(tmp_path, text))


def test_yaml_merge_keys_may_override_without_being_duplicates(tmp_path):
    text = (
        "samples:\n"
        "  sig: {label: signal, files: s.root}\n"
        "  bkg: &mc {label: background, files: b.root, cross_section: 3.0}\n"
        "  bkg2: {<<: *mc, files: c.root, cross_section: 4.0}\n"
        "features: [{name: x, expr: x}]\n"
        "training: {}\n"
    )
    path = _write(tmp_path, text)
    cfg = load_config(path)
    assert cfg.samples["bkg2"].files == ("c.root",)
    assert cfg.samples["bkg2"].cross_section == 4.0
    assert cfg.samples["bkg2"].label == "background"


def test_yaml_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 6)]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"alias.*expand"):
        load_config(path)


def test_a_few_aliases_are_fine(tmp_path):
    text = (
        "samples:\n"
        "  sig: {label: signal, files: &files [s.root, t.root]}\n"
        "  bkg: {label: background, files: *files}\n"
        "features: [{name: x, expr: x}]\n"
        "training: {}\n"
    )
    assert load_config(_write(tmp_path, text)).samples["bkg"].files == ("s.root", "t.root")


def test_huge_config_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("w") as f:
        f.write("# " + "x" * (10 * 1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match=r"big.yaml.*MB"):
        load_config(path)


def test_a_fifo_as_config_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    outcome = []

    def load():
        try:
            load_config(fifo)
        except ConfigError as err:
            outcome.append(str(err))

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=20)
    if thread.is_alive():  # release the blocked reader before failing
        with open(fifo, "w"):
            pass
        pytest.fail("load_config blocked on a FIFO")
    assert outcome and "not a regular file" in outcome[0]


def test_yaml_safe_dump_round_trip_still_loads(tmp_path):
    path = _write(tmp_path, yaml.safe_dump(BASE))
    assert set(load_config(path).samples) == {"sig", "bkg"}


# ---------------------------------------------------------------- texts drawn on plots


@pytest.mark.parametrize(
    ("mutate", "key", "complaint"),
    [
        (
            lambda d: d["features"][0].update(label="$\\frac{a$ [GeV]"),
            "features[0].label (feature 'x')",
            "Expected \\frac{num}{den}",
        ),
        (
            lambda d: d["features"][0].update(label="$x^$"),
            "features[0].label (feature 'x')",
            "Expected",
        ),
        (
            lambda d: d["features"][0].update(label="$\\foo$"),
            "features[0].label (feature 'x')",
            "Unknown symbol",
        ),
        (lambda d: d.update(plotting={"label": "$$"}), "plotting.label", "Expected end of text"),
        (
            lambda d: d.update(plotting={"data_label": "Run $\\alph$"}),
            "plotting.data_label",
            "Unknown symbol: \\alph",
        ),
    ],
)
def test_label_matplotlib_cannot_draw_is_refused_at_validation(mutate, key, complaint):
    from hepml.plots.labels import check_labels

    data = copy.deepcopy(BASE)
    mutate(data)
    cfg = config_from_dict(data, source="c.yaml")  # loading stays free of matplotlib
    with pytest.raises(ConfigError) as info:
        check_labels(cfg, source="c.yaml")
    message = str(info.value)
    assert message.startswith(f"c.yaml: {key} = ")
    assert complaint in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "label", ["$m_{jj}$ [GeV]", "100% of $p_T$", "cost in \\$", "a_b", "$5 and 6", ""]
)
def test_labels_matplotlib_draws_pass(label):
    from hepml.plots.labels import check_labels

    data = copy.deepcopy(BASE)
    data["features"][0]["label"] = label
    check_labels(config_from_dict(data))


def test_demo_labels_pass_and_validate_checks_labels(tmp_path, capsys):

    from hepml.cli.app import main
    from hepml.plots.labels import check_labels, plotted_texts

    demo = ROOT / "config" / "config.yaml"
    cfg = load_config(demo)
    check_labels(cfg)
    # every feature has a label, and so has every process (plotting.label: one more text)
    assert len(plotted_texts(cfg)) == len(cfg.features) + len(cfg.processes) + 1
    data = yaml.safe_load(demo.read_text())
    data["features"][2]["label"] = "$|\\Delta\\phi_{jj|$"
    data.pop("demo")
    broken = tmp_path / "c.yaml"
    broken.write_text(yaml.safe_dump(data))
    assert main(["validate", "--config", str(broken)]) == 2
    assert "features[2].label (feature 'dphijj')" in capsys.readouterr().err


def test_process_display_defaults_to_the_name_and_follows_the_config():
    data = copy.deepcopy(BASE)
    data["samples"]["bkg2"] = {"label": "background", "files": "c.root", "process": "bkg"}
    data["processes"] = {"bkg": {"label": "$t\\bar{t}$", "color": "tab:orange", "order": 1}}
    cfg = config_from_dict(data)
    assert list(cfg.processes) == ["sig", "bkg"]  # one entry per process, in sample order
    assert cfg.processes["sig"].label == "sig" and cfg.processes["sig"].color is None
    assert cfg.processes["bkg"].label == "$t\\bar{t}$" and cfg.processes["bkg"].order == 1


def test_an_unknown_process_name_is_refused_with_the_near_match():
    message = _error(lambda d: d.update(processes={"bkgg": {"label": "B"}}))
    assert "processes.bkgg: no sample has process 'bkgg'" in message
    assert "Did you mean 'bkg'" in message


@pytest.mark.parametrize(
    ("spec", "key", "complaint"),
    [
        ({"label": "$\\bar{t$"}, "processes.bkg.label", "Expected"),
        ({"color": "tab:oragne"}, "processes.bkg.color", "Did you mean 'tab:orange'"),
        ({"color": "#12345"}, "processes.bkg.color", "not a matplotlib colour"),
    ],
)
def test_process_label_and_colour_are_checked_at_validation(spec, key, complaint):
    from hepml.plots.labels import check_labels

    data = copy.deepcopy(BASE)
    data["processes"] = {"bkg": spec}
    cfg = config_from_dict(data, source="c.yaml")
    with pytest.raises(ConfigError) as info:
        check_labels(cfg, source="c.yaml")
    assert str(info.value).startswith(f"c.yaml: {key} = ")
    assert complaint in str(info.value)


def test_feature_histogram_options_and_their_checks():
    data = copy.deepcopy(BASE)
    data["features"][0].update(bins=25, range=[0, 500], log=True)
    data["features"].append({"name": "y", "expr": "y"})
    cfg = config_from_dict(data)
    assert (cfg.features[0].bins, cfg.features[0].range, cfg.features[0].log) == (
        25,
        (0, 500),
        True,
    )
    assert (cfg.features[1].bins, cfg.features[1].range, cfg.features[1].log) == (None, None, None)
    assert cfg.raw["features"][1]["log"] == "auto"  # the schema's default, filled in
    message = _error(lambda d: d["features"][0].update(range=[5, 5]))
    assert "features[0].range = [5, 5] (feature 'x'): give [low, high] with low < high" in message
    assert "features[0].log" in _error(lambda d: d["features"][0].update(log="sometimes"))
