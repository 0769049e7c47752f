"""Tools a chat model can call (issue 31, part 1): the calculator."""

from lmlab.tools.calculator import CalculatorError, calculate

__all__ = ["CalculatorError", "calculate"]
