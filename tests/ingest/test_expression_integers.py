"""Integer semantics of the expression language: arithmetic that never wraps or lies.

uproot hands the interpreter every integer width ROOT has (NanoAOD counters are uint32, flags
uint8 or bool, event numbers uint64). Every operator is checked here on every width, flat
(numpy and awkward) and jagged, against Python's exact integers and numpy's float64 computed
by hand, never against the interpreter's own output. See the module docstring of
``hepml.ingest.expressions.language`` for the rules these tests pin down.
"""

from __future__ import annotations

import math
import operator

import awkward as ak
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepml.exceptions import ExpressionError
from hepml.ingest.expressions.language import parse_expression

WHERE = "feature 'f'"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
WIDTHS = [
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
]  # fmt: skip
LAYOUTS = ["numpy", "awkward", "jagged"]
COUNTS = [2, 0, 3]  # the jagged layout: five values in three events


def values_of(width: str) -> tuple[list[int], list[int]]:
    """Two operands of ``width``: its extremes (at most 2**40 in size for the 64-bit types),
    small numbers, a zero divisor, and a large one (at most 2**20: products fit in int64)."""
    if width == "bool":
        return [0, 1, 1, 0, 1], [1, 1, 0, 0, 1]
    info = np.iinfo(width)
    low, high = max(info.min, -(2**40)), min(info.max, 2**40)
    return [0, 1, 5, low, high], [3, 0, 2, 7, min(high, 2**20)]


def arrays(values: list[int], width: str, layout: str):
    data = np.array(values, dtype=width)
    if layout == "numpy":
        return data
    if layout == "awkward":
        return ak.Array(data)
    return ak.unflatten(ak.Array(data), COUNTS)


def run(text, namespace, **kwargs):
    return parse_expression(text, where=WHERE).evaluate(namespace, **kwargs)


def flattened(result) -> list:
    """The result's values as a flat list of Python numbers."""
    if isinstance(result, ak.Array):
        return ak.to_list(ak.flatten(result, axis=None))
    return np.asarray(result).ravel().tolist()


def result_kind(result) -> str:
    if isinstance(result, ak.Array):
        return str(ak.flatten(result, axis=None).type.content)
    return np.asarray(result).dtype.name


def same(result: list, expected: list) -> bool:
    if len(result) != len(expected):
        return False
    for r, e in zip(result, expected, strict=True):
        if isinstance(e, float) and math.isnan(e):
            if not (isinstance(r, float) and math.isnan(r)):
                return False
        elif r != e or (type(r) is bool) != (type(e) is bool):
            return False
    return True


def floor_div(a: int, b: int) -> float | int:
    return math.nan if b == 0 else a // b


def modulo(a: int, b: int) -> float | int:
    return math.nan if b == 0 else a % b


def true_div(a: int, b: int) -> float:
    return (
        float(np.float64(a) / np.float64(b)) if b else math.copysign(math.inf, a) if a else math.nan
    )


# expression -> (exact reference on Python ints, the result's type)
ARITHMETIC = {
    "a + b": (lambda a, b: a + b, "int64"),
    "a - b": (lambda a, b: a - b, "int64"),
    "b - a": (lambda a, b: b - a, "int64"),
    "a * b": (lambda a, b: a * b, "int64"),
    "a // b": (floor_div, "float64"),  # a divisor that may be 0: NaN there
    "a % b": (modulo, "float64"),
    "a / b": (true_div, "float64"),
    "a // 3": (lambda a, b: a // 3, "int64"),  # a non-zero constant: exact integers
    "a % 3": (lambda a, b: a % 3, "int64"),
    "a % -3": (lambda a, b: a % -3, "int64"),  # Python's (floor) modulo, like numpy's
    "-a": (lambda a, b: -a, "int64"),
    "+a": (lambda a, b: a, "int64"),
    "a - 300": (lambda a, b: a - 300, "int64"),
    "1000 * a": (lambda a, b: 1000 * a, "int64"),
    "a + 0.5": (lambda a, b: a + 0.5, "float64"),
    "a // 0": (lambda a, b: math.nan, "float64"),
    "a % 0": (lambda a, b: math.nan, "float64"),
    "a ** 2": (lambda a, b: float(np.float64(a) ** 2), "float64"),
}
COMPARISONS = {
    "a == b": lambda a, b: a == b,
    "a != b": lambda a, b: a != b,
    "a < b": lambda a, b: a < b,
    "a <= b": lambda a, b: a <= b,
    "a > b": lambda a, b: a > b,
    "a >= b": lambda a, b: a >= b,
    "a > -1": lambda a, b: a > -1,  # unsigned against a negative literal
    "a - b < 0": lambda a, b: a - b < 0,  # nMuon - nJet < 0 once wrapped to 4.29e9
}
BITWISE = {
    "a & b": lambda a, b: a & b,
    "a | b": lambda a, b: a | b,
    "a ^ b": lambda a, b: a ^ b,
    "a & 4": lambda a, b: a & 4,  # a flag bit
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("width", WIDTHS)
def test_arithmetic_on_every_integer_width(width, layout):
    a, b = values_of(width)
    namespace = {"a": arrays(a, width, layout), "b": arrays(b, width, layout)}
    for text, (reference, kind) in ARITHMETIC.items():
        result = run(text, namespace)
        expected = [reference(x, y) for x, y in zip(a, b, strict=True)]
        assert same(flattened(result), expected), (text, flattened(result), expected)
        assert result_kind(result) == kind, (text, result_kind(result))
        if layout == "jagged":
            assert ak.num(result, axis=1).tolist() == COUNTS


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("width", WIDTHS)
def test_comparisons_on_every_integer_width(width, layout):
    a, b = values_of(width)
    namespace = {"a": arrays(a, width, layout), "b": arrays(b, width, layout)}
    for text, reference in COMPARISONS.items():
        result = run(text, namespace)
        expected = [reference(x, y) for x, y in zip(a, b, strict=True)]
        assert flattened(result) == expected, (text, flattened(result), expected)
        assert result_kind(result) == "bool"


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("width", [w for w in WIDTHS if w != "bool"])
def test_bitwise_operators_on_integers_are_bitwise_int64(width, layout):
    a, b = values_of(width)
    namespace = {"a": arrays(a, width, layout), "b": arrays(b, width, layout)}
    for text, reference in BITWISE.items():
        result = run(text, namespace)
        expected = [reference(x, y) for x, y in zip(a, b, strict=True)]
        assert flattened(result) == expected, (text, flattened(result), expected)
        assert result_kind(result) == "int64"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_logic_on_booleans(layout):
    a, b = values_of("bool")
    namespace = {"a": arrays(a, "bool", layout), "b": arrays(b, "bool", layout)}
    cases = {
        "a & b": lambda x, y: x and y,
        "a | b": lambda x, y: x or y,
        "a ^ b": lambda x, y: x != y,
        "~a": lambda x, y: not x,
        "not a": lambda x, y: not x,
        "a and b": lambda x, y: x and y,
        "a or not b": lambda x, y: x or not y,
    }
    for text, reference in cases.items():
        expected = [bool(reference(bool(x), bool(y))) for x, y in zip(a, b, strict=True)]
        assert flattened(run(text, namespace)) == expected, text


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("width", [w for w in WIDTHS if w != "bool"])
@pytest.mark.parametrize("text", ["~a", "not a", "a and b", "a or b", "(a > 1) and b"])
def test_logical_not_and_or_refuse_integers(width, layout, text):
    a, b = values_of(width)
    namespace = {"a": arrays(a, width, layout), "b": arrays(b, width, layout)}
    with pytest.raises(ExpressionError) as info:
        run(text, namespace)
    message = str(info.value)
    assert message.startswith(WHERE)
    assert "True/False" in message
    assert "!= 0" in message


def test_any_of_inverted_int_flags_is_refused_not_always_true():
    """``~`` on an int32 flag gave -2/-1, so any(~Muon_isGood) kept every event."""
    flags = ak.unflatten(ak.Array(np.array([1, 1, 0, 1], dtype=np.int32)), [2, 2])
    with pytest.raises(ExpressionError, match=r"'~Muon_isGood'.*True/False.*Muon_isGood == 0"):
        run("any(~Muon_isGood)", {"Muon_isGood": flags})
    assert flattened(run("any(Muon_isGood == 0)", {"Muon_isGood": flags})) == [False, True]
    as_bool = ak.values_astype(flags, bool)
    assert flattened(run("any(~Muon_isGood)", {"Muon_isGood": as_bool})) == [False, True]


@pytest.mark.parametrize("text", ["(a > 1) & b", "b | (a > 1)", "(a > 1) ^ 1"])
def test_mixing_conditions_and_integers_in_bitwise_logic_is_refused(text):
    namespace = {"a": np.array([1, 2, 3]), "b": np.array([2, 2, 0], dtype=np.uint8)}
    with pytest.raises(ExpressionError, match=r"mixes True/False and integers.*!= 0"):
        run(text, namespace)


def test_unsigned_counters_subtract_to_negative_numbers():
    namespace = {
        "nMuon": np.array([1, 2, 0], dtype=np.uint32),
        "nJet": np.array([3, 1, 0], dtype=np.uint32),
    }
    assert run("nMuon - nJet", namespace).tolist() == [-2, 1, 0]
    assert run("nMuon - nJet < 0", namespace).tolist() == [True, False, False]
    assert run("abs(nMuon - nJet)", namespace).tolist() == [2, 1, 0]


def test_small_integer_products_do_not_wrap():
    flags = np.array([200, 255, 16], dtype=np.uint8)
    assert run("flags * flags", {"flags": flags}).tolist() == [40000, 65025, 256]
    small = np.array([-128, 127, 100], dtype=np.int8)
    assert run("small * small + small", {"small": small}).tolist() == [16256, 16256, 10100]
    assert run("-small", {"small": small}).tolist() == [128, -127, -100]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("a * b", {"a": [2**62, 3], "b": [2, 1]}),
        ("a * b", {"a": [-(2**62), 3], "b": [3, 1]}),
        ("a * b", {"a": [INT64_MIN, 3], "b": [-1, 1]}),
        ("a + b", {"a": [INT64_MAX, 3], "b": [1, 1]}),
        ("a - b", {"a": [INT64_MIN, 3], "b": [1, 1]}),
        ("-a", {"a": [INT64_MIN, 3]}),
        ("abs(a)", {"a": [INT64_MIN, 3]}),
        ("a // b", {"a": [INT64_MIN, 3], "b": [-1, 1]}),
        ("a * 4611686018427387904", {"a": [3, 1]}),
        ("sum(j)", {"j": [[INT64_MAX, 1], [2]]}),
    ],
)
def test_integer_overflow_is_an_error_not_a_wrapped_number(text, values):
    namespace = {
        name: ak.Array(v) if isinstance(v[0], list) else np.array(v, dtype=np.int64)
        for name, v in values.items()
    }
    with pytest.raises(ExpressionError) as info:
        run(text, namespace)
    message = str(info.value)
    assert message.startswith(f"{WHERE}: cannot compute {text!r}")
    assert "64-bit" in message


def test_results_at_the_edge_of_int64_are_exact():
    a = np.array([INT64_MAX - 1, INT64_MIN + 1, 2**62], dtype=np.int64)
    assert run("a + 1", {"a": a}).tolist()[:2] == [INT64_MAX, INT64_MIN + 2]
    assert run("a - 1", {"a": a}).tolist()[1] == INT64_MIN
    assert run("a * -2", {"a": a[2:]}).tolist() == [INT64_MIN]
    assert run("a // -1", {"a": a}).tolist()[:2] == [-(INT64_MAX - 1), INT64_MAX]


def test_uint64_event_numbers_stay_exact_and_too_large_ones_are_refused():
    event = np.array([2**62 + 7, 2**53 + 1, 12], dtype=np.uint64)
    assert run("event % 1000", {"event": event}).tolist() == [
        (2**62 + 7) % 1000,
        (2**53 + 1) % 1000,
        12,
    ]
    assert run("event == 9007199254740993", {"event": event}).tolist() == [False, True, False]
    assert run("event - 1", {"event": event}).tolist()[1] == 2**53
    huge = np.array([2**63 + 5, 3], dtype=np.uint64)
    for text in ("huge % 2", "huge == 3", "huge + 0"):
        with pytest.raises(ExpressionError, match=r"9223372036854775813.*above 2\*\*63 - 1"):
            run(text, {"huge": huge})


MIXED = {
    "a + b": operator.add,
    "a - b": operator.sub,
    "a * b": operator.mul,
    "a < b": operator.lt,
    "a == b": operator.eq,
    "a >= b": operator.ge,
}


def test_signed_and_unsigned_of_every_width_mix_exactly():
    for width_a in WIDTHS[:-1]:
        for width_b in WIDTHS[:-1]:
            a, _ = values_of(width_a)
            _, b = values_of(width_b)
            namespace = {"a": np.array(a, dtype=width_a), "b": np.array(b, dtype=width_b)}
            for text, reference in MIXED.items():
                expected = [reference(x, y) for x, y in zip(a, b, strict=True)]
                result = run(text, namespace)
                assert result.tolist() == expected, (width_a, width_b, text)
                assert result.dtype == (np.bool_ if "<" in text or "=" in text else np.int64)


@pytest.mark.parametrize("width", [w for w in WIDTHS if w != "bool"])
def test_functions_take_integers_as_int64(width):
    a, b = values_of(width)
    namespace = {"a": np.array(a, dtype=width), "b": np.array(b, dtype=width)}
    assert run("minimum(a, -b)", namespace).tolist() == [
        min(x, -y) for x, y in zip(a, b, strict=True)
    ]
    assert run("maximum(a - b, 0)", namespace).tolist() == [
        max(x - y, 0) for x, y in zip(a, b, strict=True)
    ]
    cond = np.array([True, False, True, False, True])
    result = run("where(c, a, -b)", namespace | {"c": cond})
    assert result.tolist() == [x if c else -y for x, y, c in zip(a, b, cond, strict=True)]
    assert run("clip(a - b, -1, 1)", namespace).tolist() == [
        max(-1, min(x - y, 1)) for x, y in zip(a, b, strict=True)
    ]
    jagged = ak.unflatten(ak.Array(np.array(a, dtype=width)), COUNTS)
    assert flattened(run("sum(j) - 1", {"j": jagged})) == [sum(a[:2]) - 1, -1, sum(a[2:]) - 1]
    assert flattened(run("max(j) - min(j)", {"j": jagged}, fill=0)) == [
        max(a[:2]) - min(a[:2]),
        0,
        max(a[2:]) - min(a[2:]),
    ]


PYTHON_OPERATORS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "//": operator.floordiv,
    "%": operator.mod,
}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(WIDTHS[:-1]),
    st.sampled_from(WIDTHS[:-1]),
    st.sampled_from(list(PYTHON_OPERATORS)),
    st.data(),
)
def test_random_integers_of_any_width_match_python_integers(width_a, width_b, symbol, data):
    """Exact Python integers are the reference: equal where they fit int64, an error where
    they do not (or where an operand is a uint64 above 2**63 - 1), NaN for a zero divisor."""
    a_info, b_info = np.iinfo(width_a), np.iinfo(width_b)
    size = data.draw(st.integers(1, 6))
    a = data.draw(
        st.lists(st.integers(int(a_info.min), int(a_info.max)), min_size=size, max_size=size)
    )
    b = data.draw(
        st.lists(st.integers(int(b_info.min), int(b_info.max)), min_size=size, max_size=size)
    )
    namespace = {"a": np.array(a, dtype=width_a), "b": np.array(b, dtype=width_b)}
    dividing = symbol in ("//", "%")
    exact = [
        None if dividing and y == 0 else PYTHON_OPERATORS[symbol](x, y)
        for x, y in zip(a, b, strict=True)
    ]
    too_large = any(v > INT64_MAX for v in a + b)
    overflows = any(v is not None and not INT64_MIN <= v <= INT64_MAX for v in exact)
    if too_large or overflows:
        with pytest.raises(ExpressionError, match="64"):
            run(f"a {symbol} b", namespace)
        return
    result = run(f"a {symbol} b", namespace)
    if dividing:  # a divisor that varies: float64, NaN where it is 0
        assert result.dtype == np.float64
        expected = [math.nan if v is None else float(v) for v in exact]
        np.testing.assert_array_equal(result, expected)
    else:
        assert result.dtype == np.int64
        assert result.tolist() == exact


# ---------------------------------------------------------------- bounded cost


@pytest.mark.parametrize(
    "text",
    [
        "m_lead(Jet, 65)",
        "pt_lead(Jet, 9223372036854775807)",
        "m_lead(Jet, 2**63-1)",
        "m_lead(Jet, 0)",
        "m_lead(Jet, -1)",
        "m_lead(Jet, 2.0)",
        "m_lead(Jet, True)",
    ],
)
def test_number_of_leading_objects_is_bounded(text):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, where=WHERE)
    message = str(info.value)
    assert message.startswith(WHERE)
    assert "from 1 to 64" in message


def test_sixty_four_leading_objects_are_allowed():
    pt = ak.Array([[float(100 - i) for i in range(64)], [10.0]])
    namespace = {
        "Jet_pt": pt,
        "Jet_eta": pt * 0.0,
        "Jet_phi": pt * 0.0,
        "Jet_mass": pt * 0.0 + 1.0,
    }
    result = run("m_lead(Jet, 64)", namespace, fill=-1.0)
    # 64 collinear objects of mass 1: the invariant mass of their sum, by hand
    energy = sum(math.hypot(100 - i, 1.0) for i in range(64))
    momentum = sum(100 - i for i in range(64))
    assert result.tolist()[1] == -1.0
    assert result.tolist()[0] == pytest.approx(math.sqrt(energy**2 - momentum**2), rel=1e-9)


# ---------------------------------------------------------------- a real NanoAOD file


def test_real_nanoaod_unsigned_counters_flags_and_event_numbers(shared_data):
    """uproot's own types (uint32 counters, uint64 events, int32 and bool object flags)."""
    import uproot

    path = shared_data / "scikit-hep-testdata" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
    names = ["nMuon", "nJet", "event", "Muon_charge", "Muon_tightId", "Jet_puId"]
    with uproot.open(path) as f:
        events = f["Events"].arrays(names)
    namespace = {name: events[name] for name in names}
    n_muon = ak.to_numpy(events.nMuon).astype(np.int64)
    n_jet = ak.to_numpy(events.nJet).astype(np.int64)
    assert events.nMuon.type.content.primitive == "uint32"
    difference = ak.to_numpy(run("nMuon - nJet", namespace))
    np.testing.assert_array_equal(difference, n_muon - n_jet)
    assert (difference < 0).any()  # the case that wrapped to 4.29e9
    event = [int(e) for e in ak.to_list(events.event)]
    assert ak.to_list(run("event % 7", namespace)) == [e % 7 for e in event]
    charges = ak.to_list(events.Muon_charge)
    assert ak.to_list(run("sum(Muon_charge) - nMuon", namespace)) == [
        sum(c) - len(c) for c in charges
    ]
    tight = ak.to_list(events.Muon_tightId)
    assert ak.to_list(run("any(~Muon_tightId)", namespace)) == [
        any(not t for t in e) for e in tight
    ]
    with pytest.raises(ExpressionError, match=r"'~Jet_puId'.*Jet_puId == 0"):
        run("any(~Jet_puId)", namespace)
