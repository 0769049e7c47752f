"""The calculator tool (lmlab.tools.calculator): exact arithmetic by a small parser, and every other input an error
result, hostile input included."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmlab.tools.calculator import MAX_CHARS, MAX_DEPTH, CalculatorError, calculate, evaluate


@pytest.mark.parametrize(
    "text, result",
    [
        ("12+34", "46"), ("123 + 456", "579"), ("1234 + 5678", "6912"), ("12 * 34", "408"), ("2*(3+4)", "14"),
        ("2*3+4", "10"), ("2+3*4", "14"), ("10-4-3", "3"), ("100/10/5", "2"), ("7/2", "3.5"),
        ("-2/3", "-0.666666666667"), ("1/3", "0.333333333333"), ("0.1+0.2", "0.3"), ("1/3*3", "1"), ("-(-3)", "3"),
        ("+5", "5"), (".5*2", "1"),
        ("3.", "3"), ("  ( 1 + 2 ) * ( 3 - 4 ) ", "-3"), ("0.9999999999999", "1"), ("-0.0000000000004", "0"),
    ],
)  # fmt: skip
def test_arithmetic_is_exact_with_the_usual_precedence(text, result):
    assert calculate(text) == result


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os').system('ls')", "unexpected '_' at position 1"),
        ("open('/etc/passwd')", "unexpected 'o'"),
        ("2**10", "unexpected '*'"),
        ("1e5", "unexpected 'e'"),
        ("1/0", "division by zero"),
        ("1/(2-2)", "division by zero"),
        ("(1+2", "the expression ends too soon"),
        ("1+2)", "unexpected ')' after a complete expression"),
        ("1 2", "unexpected '2' after a complete expression"),
        ("", "an empty expression"),
        ("1.2.3", "not a number: '1.2.3'"),
        ("٣+1", "unexpected '٣'"),  # a digit of another script is not a digit here
        ("1" * 41, "more than 40 digits"),
        ("1+" * 101 + "1", f"longer than {MAX_CHARS} characters"),
        ("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH}"),
        ("-" * 40 + "1", f"nested deeper than {MAX_DEPTH}"),
    ],
)
def test_anything_else_is_an_error_result_the_model_sees(text, message):
    result = calculate(text)
    assert result.startswith("error: ") and message in result, result
    with pytest.raises(CalculatorError):
        evaluate(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_no_input_makes_it_raise_or_hang(text):
    assert isinstance(calculate(text), str)


def expressions(depth: int = 3):
    """(text, exact value) of random expressions, built with their value beside them (no eval)."""
    leaf = st.integers(0, 9999).map(lambda n: (str(n), Fraction(n)))
    if depth == 0:
        return leaf

    def combine(parts):
        (a, x), op, (b, y) = parts
        if op == "/" and y == 0:
            op = "*"
        value = {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else None}[op]
        return f"({a}) {op} ({b})", value

    sub = expressions(depth - 1)
    return st.one_of(leaf, st.tuples(sub, st.sampled_from("+-*/"), sub).map(combine))


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_random_expressions_equal_their_exact_values(pair):
    text, value = pair
    assert evaluate(text) == value
