"""A calculator that is safe by construction: a small recursive-descent parser of arithmetic, never `eval`.

The grammar (whitespace anywhere between tokens):
    expression := term (("+" | "-") term)*
    term       := factor (("*" | "/") factor)*
    factor     := ("+" | "-") factor | number | "(" expression ")"
    number     := digits ["." digits] | "." digits
Values are exact fractions (fractions.Fraction), so 0.1 + 0.2 is 0.3 and 1/3 * 3 is 1. A result prints as an integer
when it is one, else as a decimal of at most 12 significant digits after the point, trailing zeros removed.
Anything else is a CalculatorError with a message the model sees as the tool's result: an unknown character, a
dangling operator, unbalanced parentheses, division by zero, and, so that no input can make it work hard, more than
MAX_CHARS characters, parentheses nested deeper than MAX_DEPTH, or a number longer than MAX_DIGITS digits.
"""

from fractions import Fraction

MAX_CHARS = 200
MAX_DEPTH = 32
MAX_DIGITS = 40


class CalculatorError(ValueError):
    """Input the calculator does not take; str(e) is what the model is shown."""


def tokens(text: str) -> list[str]:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "+-*/()":
            out.append(c)
            i += 1
        elif c.isdigit() and c.isascii() or c == ".":
            j = i
            while j < len(text) and (text[j].isascii() and text[j].isdigit() or text[j] == "."):
                j += 1
            number = text[i:j]
            if number.count(".") > 1 or number == ".":
                raise CalculatorError(f"not a number: {number!r}")
            if len(number.replace(".", "")) > MAX_DIGITS:
                raise CalculatorError(f"a number of more than {MAX_DIGITS} digits")
            out.append(number)
            i = j
        else:
            raise CalculatorError(f"unexpected {c!r} at position {i + 1}: only numbers, + - * / and parentheses")
    return out


class _Parser:
    def __init__(self, items: list[str]):
        self.items, self.pos, self.depth = items, 0, 0

    def peek(self) -> str | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> str:
        item = self.peek()
        if item is None:
            raise CalculatorError("the expression ends too soon")
        self.pos += 1
        return item

    def expression(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while self.peek() in ("*", "/"):
            if self.take() == "*":
                value *= self.factor()
            else:
                divisor = self.factor()
                if divisor == 0:
                    raise CalculatorError("division by zero")
                value /= divisor
        return value

    def factor(self) -> Fraction:
        item = self.take()
        if item in ("+", "-"):
            self.descend()
            value = self.factor()
            self.depth -= 1
            return value if item == "+" else -value
        if item == "(":
            self.descend()
            value = self.expression()
            if self.take() != ")":
                raise CalculatorError("a '(' without its ')'")
            self.depth -= 1
            return value
        if item in ")*/":
            raise CalculatorError(f"unexpected {item!r}")
        return Fraction(item)

    def descend(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CalculatorError(f"nested deeper than {MAX_DEPTH}")


def evaluate(text: str) -> Fraction:
    """The exact value of an arithmetic expression; CalculatorError for anything else (module docstring)."""
    if len(text) > MAX_CHARS:
        raise CalculatorError(f"longer than {MAX_CHARS} characters")
    items = tokens(text)
    if not items:
        raise CalculatorError("an empty expression")
    parser = _Parser(items)
    value = parser.expression()
    if parser.peek() is not None:
        raise CalculatorError(f"unexpected {parser.peek()!r} after a complete expression")
    return value


def format_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign, value = ("-" if value < 0 else ""), abs(value)
    whole, rest = divmod(value, 1)
    digits = round(rest * 10**12)
    if digits == 10**12:
        whole, digits = whole + 1, 0
    fraction = f"{digits:012d}".rstrip("0")
    if whole == 0 and not fraction:
        sign = ""  # rounds to zero: no "-0"
    return f"{sign}{whole}" + (f".{fraction}" if fraction else "")


def calculate(text: str) -> str:
    """The tool's result: the value as text, or 'error: ...' (what the model is shown either way)."""
    try:
        return format_number(evaluate(text))
    except CalculatorError as e:
        return f"error: {e}"
