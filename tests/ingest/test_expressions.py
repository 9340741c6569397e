"""Tests for the safe expression language (hepml.ingest.expressions.language and its helper
modules).

Results are checked against independent computations (the math module, plain loops, hand-
written four-vector formulas) on small hand-made arrays; every rejection is checked for the
context (``where``), the offending piece and the advice in its message.
"""

from __future__ import annotations

import builtins
import math

import awkward as ak
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepml.exceptions import ExpressionError, HepmlError, UnknownBranch
from hepml.ingest.expressions.language import (
    Expression,
    as_flat,
    as_mask,
    collection_branches,
    parse_expression,
    required_branches,
)

WHERE = "feature 'f'"

JET_PT = [[50.0, 20.0, 80.0], [], [35.0], [25.0, 45.0]]
JET_ETA = [[0.5, -1.0, 2.0], [], [2.1], [-0.3, 1.2]]
JET_PHI = [[0.1, 3.0, -2.0], [], [-3.0], [1.5, -1.5]]
JET_MASS = [[5.0, 4.0, 10.0], [], [3.0], [2.0, 6.0]]
MUON = {"pt": [[30.0], [], [12.0, 8.0], [40.0]], "eta": [[0.2], [], [1.0, -1.0], [-2.0]]}
MUON |= {"phi": [[-2.5], [], [0.5, 2.5], [0.0]], "mass": [[0.106], [], [0.106, 0.106], [0.106]]}
FLAT_X = [0.2, 0.5, 0.9, 1.7]


@pytest.fixture
def events():
    """Four events: three/zero/one/two jets, flat branches and a numpy feature."""
    namespace = {
        "Jet_pt": ak.Array(JET_PT),
        "Jet_eta": ak.Array(JET_ETA),
        "Jet_phi": ak.Array(JET_PHI),
        "Jet_mass": ak.Array(JET_MASS),
        "Jet_btag": ak.Array([[0.9, 0.1, 0.85], [], [0.2], [0.95, 0.3]]),
        "Jet_n": ak.Array([[1, 2, 3], [], [4], [5, 6]]),
        "MET_pt": ak.Array([10.0, 20.0, 30.0, 40.0]),
        "MET_phi": ak.Array([0.0, 1.0, -1.0, 3.0]),
        "x": np.array(FLAT_X),
        "y": np.array([1.0, -2.0, 0.5, 3.0]),
        "n": np.array([1, 2, 3, 4]),
    }
    namespace |= {f"Muon_{key}": ak.Array(values) for key, values in MUON.items()}
    return namespace


def run(text, namespace, **kwargs):
    return parse_expression(text, where=WHERE).evaluate(namespace, **kwargs)


def flat(values):
    return as_flat(values, where=WHERE)


def rejected(text):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, where=WHERE)
    message = str(info.value)
    assert message.startswith(WHERE)
    return message


def four_vector(pt, eta, phi, mass):
    """Hand-written (E, px, py, pz) of one object, independent of vector."""
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return (math.sqrt(px**2 + py**2 + pz**2 + mass**2), px, py, pz)


def invariant_mass(vectors):
    e, px, py, pz = (sum(v[i] for v in vectors) for i in range(4))
    return math.sqrt(max(e**2 - px**2 - py**2 - pz**2, 0.0))


def wrapped(angle):
    return (angle + math.pi) % (2 * math.pi) - math.pi


# ---------------------------------------------------------------- literals and operators


def test_arithmetic_matches_numpy(events):
    x, y = np.array(FLAT_X), events["y"]
    result = run("(x + 2 * y - 1) / 4 + x // 0.3 + x % 0.4 - -y + +x", events)
    np.testing.assert_allclose(result, (x + 2 * y - 1) / 4 + x // 0.3 + x % 0.4 + y + x)
    np.testing.assert_allclose(run("x ** 2 + n ** -1", events), x**2 + 1.0 / events["n"])


def test_literals_and_constants(events):
    np.testing.assert_allclose(run("pi + e + 1e-3", events), [math.pi + math.e + 1e-3] * 4)
    assert np.isinf(run("-inf", events)).all()
    assert np.isnan(run("nan + x", events)).all()
    np.testing.assert_array_equal(run("True & (x > 0)", events), [True] * 4)
    assert run("3", events).dtype == np.int64


def test_constant_expression_is_repeated_per_event(events):
    np.testing.assert_array_equal(run("1.5", events), [1.5] * 4)
    assert parse_expression(1, where=WHERE).evaluate(events).tolist() == [1, 1, 1, 1]


def test_power_towers_do_not_hang(events):
    assert np.isinf(run("2**2**2**2**2**2", events)).all()
    assert np.isinf(run("10**10**10", events)).all()
    assert run("2**-2", events).tolist() == [0.25] * 4


def test_out_of_range_integer_literal_is_rejected():
    message = rejected("x + 99999999999999999999")
    assert "99999999999999999999" in message
    assert "64 bits" in message
    assert parse_expression("9223372036854775807", where=WHERE).names == frozenset()


def test_chained_comparison(events):
    result = as_mask(run("0.3 < x <= 0.9 != y", events), where=WHERE)
    expected = [0.3 < a <= 0.9 != b for a, b in zip(FLAT_X, events["y"], strict=True)]
    assert result.tolist() == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x > 0.3 and y > 0", lambda x, y: x > 0.3 and y > 0),
        ("x > 0.3 or y > 0", lambda x, y: x > 0.3 or y > 0),
        ("not x > 0.3", lambda x, y: not x > 0.3),
        ("x > 0.3 and y > 0 or x > 1.5", lambda x, y: (x > 0.3 and y > 0) or x > 1.5),
        ("(x > 0.3) & (y > 0)", lambda x, y: x > 0.3 and y > 0),
        ("(x > 0.3) | (y > 0)", lambda x, y: x > 0.3 or y > 0),
        ("(x > 0.3) ^ (y > 0)", lambda x, y: (x > 0.3) != (y > 0)),
        ("~(x > 0.3)", lambda x, y: not x > 0.3),
    ],
)
def test_logic(events, text, expected):
    result = as_mask(run(text, events), where=WHERE)
    assert result.tolist() == [expected(a, b) for a, b in zip(FLAT_X, events["y"], strict=True)]


def test_logic_on_jagged_and_flat_awkward(events):
    result = run("(Jet_pt > 30) and not (Jet_btag < 0.5)", events)
    expected = [[p > 30 and b >= 0.5 for p, b in zip(*e, strict=True)] for e in
                zip(JET_PT, events["Jet_btag"].tolist(), strict=True)]  # fmt: skip
    assert result.tolist() == expected


# ---------------------------------------------------------------- elementwise functions

UNARY = {
    "abs": abs, "sqrt": math.sqrt, "log": math.log, "log10": math.log10, "log1p": math.log1p,
    "exp": math.exp, "sin": math.sin, "cos": math.cos, "tan": math.tan, "sinh": math.sinh,
    "cosh": math.cosh, "tanh": math.tanh, "arctan": math.atan, "floor": math.floor,
    "ceil": math.ceil, "round": round, "sign": lambda v: (v > 0) - (v < 0),
    "isnan": math.isnan, "isfinite": math.isfinite,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_functions_flat_and_jagged(events, name):
    expected = [UNARY[name](v) for v in FLAT_X]
    np.testing.assert_allclose(flat(run(f"{name}(x)", events)), expected)
    jagged = run(f"{name}(Jet_pt / 10)", events)
    assert ak.num(jagged, axis=1).tolist() == [3, 0, 1, 2]
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(jagged)), [UNARY[name](v / 10) for e in JET_PT for v in e]
    )


@pytest.mark.parametrize(("name", "reference"), [("arcsin", math.asin), ("arccos", math.acos)])
def test_inverse_trigonometry(events, name, reference):
    values = [v / 2 for v in FLAT_X]
    np.testing.assert_allclose(flat(run(f"{name}(x / 2)", events)), [reference(v) for v in values])


def test_functions_of_nan_and_inf(events):
    assert flat(run("isnan(log(x - 1))", events)).tolist() == [True, True, True, False]
    assert flat(run("isfinite(log(x - 0.5))", events)).tolist() == [False, False, True, True]


def test_round_is_half_to_even(events):
    assert flat(run("round(x * 5)", events)).tolist() == [round(v * 5) for v in FLAT_X]
    assert flat(run("round(2.5 + 0 * x)", events)).tolist() == [2.0] * 4


@pytest.mark.parametrize(
    ("name", "reference"),
    [("arctan2", math.atan2), ("hypot", math.hypot), ("minimum", min), ("maximum", max)],
)
def test_binary_functions(events, name, reference):
    expected = [reference(a, b) for a, b in zip(FLAT_X, events["y"], strict=True)]
    np.testing.assert_allclose(flat(run(f"{name}(x, y)", events)), expected)


def test_clip_and_where(events):
    assert flat(run("clip(y, -1, 1)", events)).tolist() == [1.0, -1.0, 0.5, 1.0]
    assert flat(run("where(y > 0, x, -1)", events)).tolist() == [0.2, -1.0, 0.9, 1.7]
    assert flat(run("where(MET_pt > 25, MET_pt, 0)", events)).tolist() == [0, 0, 30, 40]
    clipped = run("clip(Jet_pt, 30, 60)", events)
    assert clipped.tolist() == [[50.0, 30.0, 60.0], [], [35.0], [30.0, 45.0]]


# ---------------------------------------------------------------- objects within events


def test_num_counts_objects_and_true_values(events):
    assert flat(run("num(Jet_pt)", events)).tolist() == [len(e) for e in JET_PT]
    btags = events["Jet_btag"].tolist()
    assert flat(run("num(Jet_btag > 0.8)", events)).tolist() == [
        sum(b > 0.8 for b in e) for e in btags
    ]


def test_reductions_and_empty_events(events):
    assert flat(run("sum(Jet_pt)", events)).tolist() == [sum(e) for e in JET_PT]
    assert flat(run("any(Jet_pt > 40)", events)).tolist() == [True, False, False, True]
    assert flat(run("all(Jet_pt > 30)", events)).tolist() == [False, True, True, False]
    assert flat(run("max(Jet_pt)", events, fill=-1)).tolist() == [80.0, -1, 35.0, 45.0]
    assert flat(run("min(Jet_pt)", events, fill=-1)).tolist() == [20.0, -1, 35.0, 25.0]
    assert flat(run("mean(Jet_pt)", events, fill=-1)).tolist() == [50.0, -1, 35.0, 35.0]
    assert np.isnan(flat(run("max(Jet_pt)", events))[1])
    assert flat(run("max(Jet_n)", events, fill=-1)).tolist() == [3, -1, 4, 6]


@pytest.mark.parametrize(("index", "fill"), [(0, math.nan), (1, -999.0), (2, 0.0), (5, -1.0)])
def test_indexing_with_fill(events, index, fill):
    expected = [e[index] if len(e) > index else fill for e in JET_PT]
    np.testing.assert_array_equal(flat(run(f"Jet_pt[{index}]", events, fill=fill)), expected)


@pytest.mark.parametrize("index", [1, 2, 3])
def test_negative_indexing(events, index):
    expected = [e[-index] if len(e) >= index else -5.0 for e in JET_PT]
    assert flat(run(f"Jet_pt[-{index}]", events, fill=-5.0)).tolist() == expected


def test_index_of_mask_fills_false(events):
    mask = as_mask(run("(Jet_pt > 30)[0]", events), where=WHERE)
    assert mask.tolist() == [True, False, True, False]


def test_mask_filtering_inside_collections(events):
    assert run("Jet_pt[Jet_pt > 30]", events).tolist() == [[p for p in e if p > 30] for e in JET_PT]
    selected = run("Jet_eta[(Jet_pt > 30) & (abs(Jet_eta) < 2.05)]", events).tolist()
    expected = [[h for p, h in zip(*e, strict=True) if p > 30 and abs(h) < 2.05]
                for e in zip(JET_PT, JET_ETA, strict=True)]  # fmt: skip
    assert selected == expected
    ht = flat(run("sum(Jet_pt[Jet_pt > 30])", events))
    assert ht.tolist() == [sum(p for p in e if p > 30) for e in JET_PT]


# ---------------------------------------------------------------- physics helpers


def test_delta_phi_wraps_into_minus_pi_pi(events):
    np.testing.assert_allclose(flat(run("delta_phi(3.0, -3.0) + 0 * x", events)), 6 - 2 * math.pi)
    result = flat(run("delta_phi(Jet_phi[0], MET_phi)", events))
    expected = [wrapped(e[0] - m) if e else math.nan for e, m in
                zip(JET_PHI, [0.0, 1.0, -1.0, 3.0], strict=True)]  # fmt: skip
    np.testing.assert_allclose(result, expected)
    assert np.all(np.abs(result[~np.isnan(result)]) <= math.pi)


def test_delta_r_and_jagged_broadcast(events):
    result = run("delta_r(Jet_eta, Jet_phi, Muon_eta[0], Muon_phi[0])", events, fill=0.0)
    muon_eta = [e[0] if e else 0.0 for e in MUON["eta"]]
    muon_phi = [e[0] if e else 0.0 for e in MUON["phi"]]
    expected = [
        [math.hypot(h - me, wrapped(f - mf)) for h, f in zip(he, fe, strict=True)]
        for he, fe, me, mf in zip(JET_ETA, JET_PHI, muon_eta, muon_phi, strict=True)
    ]
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(result)), [v for e in expected for v in e])


def test_transverse_mass(events):
    result = flat(run("mt(Muon_pt[0], Muon_phi[0], MET_pt, MET_phi)", events))
    met = [(10.0, 0.0), (20.0, 1.0), (30.0, -1.0), (40.0, 3.0)]
    for value, muon_pt, muon_phi, (met_pt, met_phi) in zip(
        result, MUON["pt"], MUON["phi"], met, strict=True
    ):
        if not muon_pt:
            assert math.isnan(value)
            continue
        dphi = muon_phi[0] - met_phi
        assert value == pytest.approx(math.sqrt(2 * muon_pt[0] * met_pt * (1 - math.cos(dphi))))


def jets():
    return [
        list(zip(*e, strict=True)) for e in zip(JET_PT, JET_ETA, JET_PHI, JET_MASS, strict=True)
    ]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_m_lead_matches_hand_formula(events, n):
    result = flat(run(f"m_lead(Jet, {n})", events, fill=-1.0))
    for value, event in zip(result, jets(), strict=True):
        leading = sorted(event, reverse=True)[:n]  # tuples sort by pt first
        expected = invariant_mass([four_vector(*j) for j in leading]) if len(event) >= n else -1
        assert value == pytest.approx(expected, rel=1e-9)


def test_m_lead_default_and_pt_lead(events):
    np.testing.assert_array_equal(run("m_lead(Jet)", events), run("m_lead(Jet, 2)", events))
    result = flat(run("pt_lead(Jet, 2)", events, fill=-1.0))
    for value, event in zip(result, jets(), strict=True):
        if len(event) < 2:
            assert value == -1.0
            continue
        vectors = [four_vector(*j) for j in sorted(event, reverse=True)[:2]]
        px, py = sum(v[1] for v in vectors), sum(v[2] for v in vectors)
        assert value == pytest.approx(math.hypot(px, py))


def test_m_pair_and_m_all(events):
    pair = flat(run("m_pair(Muon, Jet)", events, fill=-1.0))
    muons = [list(zip(*e, strict=True)) for e in zip(*MUON.values(), strict=True)]
    for value, muon, jet in zip(pair, muons, jets(), strict=True):
        if not (muon and jet):
            assert value == -1.0
            continue
        expected = invariant_mass([four_vector(*max(muon)), four_vector(*max(jet))])
        assert value == pytest.approx(expected)
    total = flat(run("m_all(Jet)", events, fill=-1.0))
    expected = [invariant_mass([four_vector(*j) for j in e]) if e else -1.0 for e in jets()]
    np.testing.assert_allclose(total, expected)
    assert total[2] == pytest.approx(3.0)  # one jet: its own mass


def cartesian_events():
    vectors = [[four_vector(*j) for j in e] for e in jets()]
    return {
        f"Jet_{name}": ak.Array([[v[i] for v in e] for e in vectors])
        for i, name in enumerate(["E", "Px", "Py", "Pz"])
    }


def test_cartesian_collection(events):
    cartesian = cartesian_events()
    assert collection_branches("Jet", cartesian) == {
        "px": "Jet_Px", "py": "Jet_Py", "pz": "Jet_Pz", "E": "Jet_E",
    }  # fmt: skip
    np.testing.assert_allclose(flat(run("pt(Jet)[0]", cartesian)), flat(run("Jet_pt[0]", events)))
    for quantity in ("pt", "eta", "phi", "mass"):
        np.testing.assert_allclose(
            ak.to_numpy(ak.flatten(run(f"{quantity}(Jet)", cartesian))),
            ak.to_numpy(ak.flatten(events[f"Jet_{quantity}"])),
            atol=1e-9,
        )
    np.testing.assert_allclose(
        flat(run("m_lead(Jet, 3)", cartesian)), flat(run("m_lead(Jet, 3)", events)), rtol=1e-9
    )


@pytest.mark.parametrize(
    ("branches", "expected"),
    [
        (["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass"], ["pt", "eta", "phi", "mass"]),
        (["Jet_pt", "Jet_eta", "Jet_phi", "Jet_E"], ["pt", "eta", "phi", "E"]),
        (["Jet_px", "Jet_py", "Jet_pz", "Jet_e"], ["px", "py", "pz", "E"]),
        (["Jet_px", "Jet_py", "Jet_pz", "Jet_energy"], ["px", "py", "pz", "E"]),
    ],
)
def test_collection_branch_spellings(branches, expected):
    found = collection_branches("Jet", [*branches, "Jet_btag", "MET_pt"])
    assert sorted(found) == sorted(expected)
    assert sorted(found.values()) == sorted(branches)


def test_collection_branches_lists_what_exists():
    with pytest.raises(UnknownBranch) as info:
        collection_branches("Jte", ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass"])
    assert "Jte_pt" in str(info.value)
    assert "Did you mean 'Jet'?" in str(info.value)
    with pytest.raises(UnknownBranch, match=r"the tree has \['Jet_eta', 'Jet_pt'\]"):
        collection_branches("Jet", ["Jet_pt", "Jet_eta"])


# ---------------------------------------------------------------- names and branches


def test_names_and_collections():
    expr = parse_expression(
        "m_lead(Jet) + sqrt(MET_pt) * pi + mass + m_pair(Muon, Jet)", where=WHERE
    )
    assert isinstance(expr, Expression)
    assert expr.names == {"MET_pt", "mass"}  # a branch may share a function's name
    assert expr.collections == {"Jet", "Muon"}
    assert expr.where == WHERE


def test_required_branches():
    available = ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "MET_pt", "ht"]
    expr = parse_expression("m_lead(Jet) / ht + MET_pt", where=WHERE)
    assert required_branches(expr, available, defined=["ht"]) == {
        "MET_pt", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass",
    }  # fmt: skip
    assert "ht" in required_branches(expr, available)


def test_required_branches_unknown_name_suggests():
    expr = parse_expression("Jet_ptt + 1", where=WHERE)
    with pytest.raises(UnknownBranch) as info:
        required_branches(expr, ["Jet_pt", "MET_pt"])
    assert str(info.value).startswith(WHERE)
    assert "'Jet_ptt'" in str(info.value)
    assert "Did you mean 'Jet_pt'?" in str(info.value)
    with pytest.raises(UnknownBranch, match=r"feature 'f': collection 'Muon'"):
        required_branches(parse_expression("m_all(Muon)", where=WHERE), ["Jet_pt"])


def test_unknown_name_at_evaluation(events):
    with pytest.raises(UnknownBranch, match=r"feature 'f': .*'MET_ptt'.*Did you mean 'MET_pt'"):
        run("MET_ptt * 2", events)
    with pytest.raises(UnknownBranch, match=r"feature 'f': collection 'Electron'"):
        run("m_lead(Electron)", events)


# ---------------------------------------------------------------- as_flat and as_mask


def test_as_flat():
    assert flat(np.array([1.0, 2.0])).tolist() == [1.0, 2.0]
    filled = flat(ak.Array([1.0, None, 3.0]))
    assert isinstance(filled, np.ndarray)
    assert np.isnan(filled[1])
    assert filled[[0, 2]].tolist() == [1.0, 3.0]
    with pytest.raises(ExpressionError) as info:
        flat(ak.Array([[1.0, 2.0], []]))
    message = str(info.value)
    assert message.startswith(WHERE)
    assert "is jagged (var * float64)" in message
    assert "sum/max/min/mean/num" in message
    assert "Jet_pt[0]" in message
    with pytest.raises(ExpressionError, match="single value"):
        flat(np.float64(3.0))


def test_as_mask():
    assert as_mask(ak.Array([True, None, False]), where=WHERE).tolist() == [True, False, False]
    assert as_mask(np.array([True, False]), where=WHERE).dtype == np.bool_
    with pytest.raises(ExpressionError, match=r"feature 'f' gives float64 .* comparison"):
        as_mask(ak.Array([1.0, 2.0]), where=WHERE)
    with pytest.raises(ExpressionError, match=r"jagged \(var \* bool\).*any\("):
        as_mask(ak.Array([[True], []]), where=WHERE)


# ---------------------------------------------------------------- rejected expressions


@pytest.mark.parametrize(
    ("text", "piece", "advice"),
    [
        ("MET_pt + x.y", "'x.y' (at column 10)", "attribute access"),
        ("().__class__", "'().__class__'", "attribute access"),
        ("().__class__.__bases__", "__bases__", "attribute access"),
        ("__import__('os')", "'__import__'", "unknown function"),
        ("x + __builtins__", "'__builtins__' (at column 5)", "double-underscore"),
        ("Jet_pt.sum()", "'Jet_pt.sum'", "write sum(...)"),
        ("Jet_pt[1:3]", "'1:3' (at column 8)", "Jet_pt[0]"),
        ("Jet_pt[0, 1]", "'0, 1'", "Jet_pt[0]"),
        ("Jet_pt[0.5]", "'0.5'", "integer"),
        ("Jet_pt[True]", "'True'", "integer"),
        ("sqr(x)", "'sqr' (at column 1)", "Did you mean 'sqrt'?"),
        ("eval('1')", "'eval'", "functions allowed are abs"),
        ("clip(x, lo=0, hi=1)", "'lo=0' (at column 9)", "clip(x, lo, hi)"),
        ("lambda: 1", "'lambda: 1'", "lambda"),
        ("[x for x in y]", "'[x for x in y]'", "list comprehension"),
        ("{x for x in y}", "'{x for x in y}'", "set comprehension"),
        ("{x: 1 for x in y}", "'{x: 1 for x in y}'", "dict comprehension"),
        ("sum(x for x in y)", "x for x in y", "generator expression"),
        ("f'{x}'", "\"f'{x}'\"", "f-string"),
        ("x + 'a'", "\"'a'\" (at column 5)", "without quotes"),
        ("sqrt(*x)", "'*x' (at column 6)", "starred"),
        ("(y := 1) + y", "'y := 1'", "assignment expression"),
        ("x if x > 0 else 0", "'x if x > 0 else 0'", "where(condition, a, b)"),
        ("{1, 2}", "'{1, 2}'", "a set"),
        ("{1: 2}", "'{1: 2}'", "a dict"),
        ("x + [1]", "'[1]' (at column 5)", "a list"),
        ("(1, 2)", "'(1, 2)'", "a tuple"),
        ("x @ y", "'@'", "the operator"),
        ("x >> 1", "'>>'", "the operator"),
        ("x is None", "'is'", "== != < <= > >="),
        ("x in y", "'in'", "== != < <= > >="),
        ("None", "'None'", "the constant"),
        ("1j", "'1j'", "the constant complex"),
        ("sqrt(x, y)", "'sqrt(x, y)'", "sqrt(x)"),
        ("clip(x)", "'clip(x)'", "clip(x, lo, hi)"),
        ("m_lead(Jet, 0)", "'0' (at column 13)", "m_lead(collection, n=2)"),
        ("m_lead(Jet, x)", "'x'", "positive integer"),
        ("m_lead(Jet, 2, 3)", "'m_lead(Jet, 2, 3)'", "m_lead(collection, n=2)"),
        ("m_all(Jet_pt[0])", "'Jet_pt[0]'", "collection name"),
        ("m_pair(Muon, pi)", "'pi'", "collection name"),
        ("x +\\\n  y.z", "'y.z' (at line 2, column 3)", "attribute access"),
        ("x +\\\r\n  y.z", "'y.z' (at line 2, column 3)", "attribute access"),
        ("é + x.y", "'x.y' (at column 5)", "attribute access"),
    ],
)
def test_rejections_name_piece_and_advice(text, piece, advice):
    message = rejected(text)
    assert piece in message
    assert advice in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("import os", "statement (import)"),
        ("x = 1", "use '=='"),
        ("x; y", "2 statements"),
        ("x\n+ y", "parentheses"),
        ("", "empty"),
        ("   ", "empty"),
        ("x\0", "null bytes"),
    ],
)
def test_statements_and_junk(text, expected):
    assert expected in rejected(text)


def test_syntax_error_shows_caret():
    message = rejected("MET_pt ++ * 2")
    assert "column 11" in message
    assert message.splitlines()[-2:] == ["    MET_pt ++ * 2", "              ^"]


def test_non_text_expression_is_rejected():
    with pytest.raises(ExpressionError, match="must be text, not list"):
        parse_expression(["x"], where=WHERE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x" * 10_001, "10001 characters long; the limit is 10000"),
        ("-(" * 110 + "x" + ")" * 110, "nested more than 100 levels"),
        ("(" * 500 + "x" + ")" * 500, "too many nested parentheses"),
        ("-" * 9_000 + "x", "nested too deeply"),
        ("sqrt(" * 120 + "x" + ")" * 120, "nested more than 100 levels"),
        ("x<" * 2_000 + "x", "more than 5000 syntax elements"),
        ("9" * 5_000, "4300 digits"),
    ],
)
def test_size_limits(text, expected):
    assert expected in rejected(text)


def test_evaluation_errors_name_the_piece(events):
    with pytest.raises(ExpressionError) as info:
        run("sqrt(Jet_pt + Muon_pt)", events)
    message = str(info.value)
    assert message.startswith(WHERE)
    assert "'Jet_pt + Muon_pt'" in message
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max(MET_pt)", "maximum(a, b)"),
        ("num(x)", "needs a jagged array"),
        ("MET_pt[0]", "'MET_pt[0]': indexing with an integer"),
        ("MET_pt[MET_pt > 1]", "selection cut"),
        ("Jet_pt[MET_pt > 1]", "jagged True/False mask"),
        ("Jet_pt[Jet_pt]", "jagged True/False mask"),
        ("MET_pt > 1 & x < 2", "put comparisons in parentheses"),
        ("~MET_pt", "'~MET_pt'"),
    ],
)
def test_evaluation_errors_give_advice(events, text, expected):
    with pytest.raises(ExpressionError) as info:
        run(text, events)
    assert str(info.value).startswith(WHERE)
    assert expected in str(info.value)


def test_user_text_never_reaches_eval_or_exec(events, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert flat(run("sum(Jet_pt[Jet_pt > 30]) + m_lead(Jet, 2) * 0", events))[0] == 130.0


# ---------------------------------------------------------------- property tests

ADVERSARIAL = [
    "(" * 500 + "x" + ")" * 500,
    "__import__('os')",
    "().__class__.__bases__",
    "[x for x in y]",
    "lambda: 1",
    "9" * 5000,
    "2**2**2**2**2**2",
    "__builtins__",
    "x.__dict__",
    "getattr(x, '__class__')",
    "open('/etc/passwd')",
    "sum(Jet_pt)[0]",
    "[" * 300 + "]" * 300,
    "not " * 3000 + "x",
    "~" * 5000 + "x",
    "x" + "[0]" * 200,
    "a if b else c",
    "\\\n" * 10 + "x",
    "# only a comment",
    "x # trailing comment",
]
TOKENS = [
    "x", "Jet_pt", "MET_pt", "Jet", "(", ")", "[", "]", "0", "-1", "2", "1e308", "9" * 25,
    "+", "-", "*", "/", "//", "%", "**", ">", "==", "<", "&", "|", "^", "~", " and ",
    " or ", "not ", ",", "sqrt(", "num(", "max(", "m_lead(", "pt(", "where(", "delta_phi(",
    "clip(", ".", "__class__", "lambda", ":", "'s'", "nan", "inf", " ", "\n",
]  # fmt: skip


def parse_or_explain(text):
    try:
        return parse_expression(text, where=WHERE)
    except ExpressionError as err:
        assert str(err).startswith(WHERE)
        return None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.sampled_from(ADVERSARIAL))
def test_any_text_parses_or_raises_expression_error(text):
    expr = parse_or_explain(text)
    assert expr is None or expr.text == text


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_token_soup_parses_and_evaluates_or_explains(events, text):
    expr = parse_or_explain(text)
    if expr is None:
        return
    try:
        expr.evaluate(events)
    except HepmlError as err:
        assert str(err).startswith(WHERE)


# ---------------------------------------------------------------- layouts, booleans, text


def as_list_array(values: ak.Array) -> ak.Array:
    """The same lists as a ListArray (starts/stops), as selections and reorderings make."""
    layout = values.layout
    offsets = np.asarray(layout.offsets)
    starts, stops = ak.index.Index64(offsets[:-1]), ak.index.Index64(offsets[1:])
    return ak.Array(ak.contents.ListArray(starts, stops, layout.content))


def with_option(values: ak.Array) -> ak.Array:
    """The same lists behind an option type (none missing): awkward's general code path."""
    return ak.mask(values, np.ones(len(values), dtype=bool))


@pytest.mark.parametrize("layout", [as_list_array, with_option])
@pytest.mark.parametrize("index", [0, 1, 2, -1, -2])
def test_indexing_other_layouts(index, layout):
    values = layout(ak.Array(JET_PT))
    expected = [
        e[index] if len(e) >= (index + 1 if index >= 0 else -index) else -7.0 for e in JET_PT
    ]
    result = flat(run(f"Jet_pt[{index}]", {"Jet_pt": values}, fill=-7.0))
    assert result.tolist() == expected


def test_indexing_integers_and_booleans():
    counts = ak.Array([[1, 2], [], [3]])
    result = flat(run("n[1]", {"n": counts}))
    assert result.dtype == np.float64  # an integer object that may be missing: NaN fill
    assert np.isnan(result[1]) and result[0] == 2.0
    flags = ak.Array([[True, False], [], [False]])
    assert as_mask(run("f[0]", {"f": flags}), where=WHERE).tolist() == [True, False, False]


@pytest.mark.parametrize("layout", [as_list_array, with_option])
def test_leading_objects_on_other_layouts(events, layout):
    """The general (awkward sort + sum) path gives what the flat-buffer path gives."""
    other = {k: layout(v) if k.startswith(("Jet_", "Muon_")) else v for k, v in events.items()}
    for text in ("m_lead(Jet, 2)", "pt_lead(Jet, 3)", "m_pair(Muon, Jet)", "m_lead(Muon, 1)"):
        np.testing.assert_allclose(
            flat(run(text, other, fill=-1.0)), flat(run(text, events, fill=-1.0)), rtol=1e-6
        )


def test_leading_objects_sorted_only_when_needed():
    """Objects stored by decreasing pT, and the same objects shuffled, give one mass."""
    pt = [[90.0, 40.0, 10.0], [55.0, 30.0], [20.0]]
    order = [[2, 0, 1], [1, 0], [0]]
    shuffled = [[e[i] for i in o] for e, o in zip(pt, order, strict=True)]
    other = {
        "eta": [[0.1, 1.0, -2.0], [0.5, -0.5], [0.0]],
        "phi": [[0.0, 2.0, -1.0], [1.0, 3.0], [0.0]],
    }
    sorted_ns = {"J_pt": ak.Array(pt), "J_mass": ak.Array([[1.0] * len(e) for e in pt])}
    sorted_ns |= {f"J_{k}": ak.Array(v) for k, v in other.items()}
    shuffled_ns = {"J_pt": ak.Array(shuffled), "J_mass": sorted_ns["J_mass"]}
    shuffled_ns |= {
        f"J_{k}": ak.Array([[e[i] for i in o] for e, o in zip(v, order, strict=True)])
        for k, v in other.items()
    }
    a = flat(run("m_lead(J, 2)", sorted_ns))
    np.testing.assert_allclose(flat(run("m_lead(J, 2)", shuffled_ns)), a, rtol=1e-12)
    first = [four_vector(pt[0][i], other["eta"][0][i], other["phi"][0][i], 1.0) for i in (0, 1)]
    assert a[0] == pytest.approx(invariant_mass(first), rel=1e-12)
    assert np.isnan(a[2])


def test_collection_with_mismatched_object_counts_is_explained():
    namespace = {f"Jet_{c}": ak.Array([[1.0, 2.0], [3.0]]) for c in ("pt", "phi", "mass")}
    namespace["Jet_eta"] = ak.Array([[1.0], [3.0, 4.0]])
    with pytest.raises(ExpressionError, match=r"feature 'f': cannot combine the branches of "
                       r"collection 'Jet' \(Jet_pt, Jet_eta, Jet_phi, Jet_mass\)"):  # fmt: skip
        run("m_lead(Jet)", namespace)


def test_arithmetic_on_conditions_counts_them(events):
    assert flat(run("(x > 0.3) + (x > 0.6)", events)).tolist() == [0, 1, 2, 2]
    assert flat(run("(x > 0.3) - (y > 0)", events)).tolist() == [-1, 1, 0, 0]
    assert flat(run("-(x > 0.3)", events)).tolist() == [0, -1, -1, -1]
    assert flat(run("sum(Jet_pt > 30) * 1", events)).tolist() == [2, 0, 1, 1]
    root = flat(run("sqrt(x > 0.3)", events))
    assert root.dtype == np.float64  # numpy alone would compute sqrt(True) in float16
    assert as_mask(run("(x > 0.3) & (y > 0)", events), where=WHERE).tolist() == [
        False, False, True, True,
    ]  # fmt: skip


def test_numbers_only_refuses_conditions():
    with pytest.raises(ExpressionError, match=r"feature 'f' gives True/False values, not numbers"):
        as_flat(np.array([True, False]), where=WHERE, numbers_only=True)
    assert as_flat(np.array([True, False]), where=WHERE).tolist() == [True, False]


def test_text_is_not_a_number():
    names = ak.Array(["a", "bb"])
    with pytest.raises(ExpressionError, match=r"feature 'f' gives values of type string"):
        as_flat(names, where=WHERE)


@pytest.mark.parametrize("eta", [[[0.1], [0.2]], [[0.1], [0.2, 0.3]]])  # fewer; same total
@pytest.mark.parametrize("text", ["m_lead(J, 2)", "pt(J)", "m_all(J)", "m_pair(J, J)"])
def test_collection_branches_with_other_object_counts_are_refused(text, eta):
    names = {
        "J_pt": ak.Array([[1.0, 2.0], [3.0]]),
        "J_eta": ak.Array(eta),
        "J_phi": ak.Array([[0.0, 1.0], [1.0]]),
        "J_mass": ak.Array([[0.1, 0.1], [0.2]]),
    }
    with pytest.raises(ExpressionError, match="same number of objects in every event"):
        run(text, names, fill=-1.0)
