"""Hostile or broken configs: every input ends in a valid Config or a clear ConfigError.

Property-based (hypothesis): random YAML text, random nested structures, and a valid config
with one value replaced by junk. Nothing may raise anything else, hang, or run code.
"""

from __future__ import annotations

import copy
import math

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hepml.config import Config, config_from_dict, load_config
from hepml.exceptions import ConfigError

VALID = {
    "samples": {
        "sig": {"label": "signal", "files": "s.root", "cross_section": 1.0},
        "bkg": {"label": "background", "files": ["b.root"]},
    },
    "selection": [{"name": "c1", "expr": "x > 1"}],
    "features": [{"name": "x", "expr": "x"}, {"name": "y", "expr": "Jet_pt[0]", "fill": -1}],
    "training": {"folds": 4, "xgboost": {"max_depth": 3}},
    "evaluation": {"working_points": [{"signal_efficiency": 0.5}]},
    "plotting": {"experiment": "ATLAS"},
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["__import__('os')", "../../etc/passwd", "a" * 500, "ünïcødé", "${HOME}", ""]),
)
junk = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _accepts(data) -> None:
    try:
        result = config_from_dict(data)
    except ConfigError as err:
        assert str(err)  # a message, not an empty error
        return
    assert isinstance(result, Config)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk)
def test_random_structures(data):
    if not isinstance(data, dict):
        with pytest.raises((ConfigError, TypeError, AttributeError)):
            config_from_dict(data)  # not a mapping at all: the loader's callers check this
        return
    _accepts(data)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(VALID) if p]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PATHS), junk)
def test_one_value_replaced_by_junk(path, value):
    data = copy.deepcopy(VALID)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    _accepts(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
@example("?")  # a null key: the near-match hint once crashed on it
@example("1: 2")  # an integer key
def test_random_yaml_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        cfg = load_config(path)
    except ConfigError as err:
        assert str(path) in str(err) or "config" in str(err)
    else:
        assert isinstance(cfg, Config)


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['echo pwned']",
        "samples: !!python/name:os.system",
        "a: &a [*a, *a]",
        "x: " + "[" * 200 + "]" * 200,
        "samples: {sig: {label: signal, files: s.root}}\n" * 3,
    ],
)
def test_yaml_attacks_are_refused_without_running_code(tmp_path, text):
    path = tmp_path / "evil.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path)


@pytest.mark.parametrize(
    "name", ["../escape", "a/b", "..", ".hidden", "x" * 65, "a b", "é", "_x", "1x"]
)
def test_unsafe_names_are_refused(name):
    for where in ("samples", "features", "selection"):
        data = copy.deepcopy(VALID)
        if where == "samples":
            data["samples"][name] = {"label": "background", "files": "x.root"}
        else:
            data[where].append({"name": name, "expr": "1"})
        with pytest.raises(ConfigError, match=r"not allowed|safe name"):
            config_from_dict(data)


def test_huge_numbers_are_rejected_or_kept_finite():
    data = copy.deepcopy(VALID)
    data["luminosity"] = 10**400  # a YAML int larger than any float
    with pytest.raises(ConfigError):
        config_from_dict(data)
    data["luminosity"] = math.inf
    with pytest.raises(ConfigError):
        config_from_dict(data)


def test_yaml_int_keys_and_duplicate_safe_load(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**VALID, "samples": {1: {"label": "signal", "files": "x"}}}))
    with pytest.raises(ConfigError):
        load_config(path)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
@example(b"seed: \xff\xfe\n")  # not UTF-8: once a UnicodeDecodeError traceback
def test_random_bytes(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_bytes(raw)
    try:
        cfg = load_config(path)
    except ConfigError as err:
        assert str(path) in str(err) or "config" in str(err)
    else:
        assert isinstance(cfg, Config)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True), min_size=1, max_size=6,
             unique=True),
    st.data(),
    st.sampled_from(["samples", "training", "plotting"]),
)  # fmt: skip
def test_a_key_written_twice_is_always_refused(tmp_path_factory, keys, data, section):
    repeated = data.draw(st.sampled_from(keys))
    order = list(keys)
    order.insert(data.draw(st.integers(0, len(order))), repeated)
    body = "".join(f"  {key}: {i}\n" for i, key in enumerate(order))
    path = tmp_path_factory.mktemp("dup") / "c.yaml"
    path.write_text(f"{section}:\n{body}", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"the key '{repeated}' appears twice"):
        load_config(path)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=9), st.integers(min_value=1, max_value=12))
def test_alias_chains_never_hang(tmp_path_factory, depth, width):
    """Each level refers ``width`` times to the one below: width**depth values expanded."""
    lines = ["l0: &l0 x"]
    for level in range(1, depth + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    path = tmp_path_factory.mktemp("bomb") / "c.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    expanded = sum(width**level for level in range(1, depth + 1))
    if expanded > 200_000:
        assert "aliases" in str(info.value)
