"""Count the work a module's regular expressions do, without timing anything.

``counting_regex_work(module)`` swaps every compiled pattern of a module for a
proxy that adds up how many characters each call scans: up to the end of the
match for ``match``/``search``/``fullmatch``, to the end of the range when
nothing matched, and the whole range for ``finditer``/``findall``/``sub``/
``split``. Rescanning from the start of a text at every step shows up as work
that grows with the square of the text, whatever the machine's speed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest


class _Tally:
    chars = 0


class _CountingPattern:
    def __init__(self, pattern: re.Pattern[str], tally: _Tally) -> None:
        self._pattern = pattern
        self._tally = tally

    def __getattr__(self, name: str):
        return getattr(self._pattern, name)

    def _range(self, string: str, pos: int, endpos: int) -> int:
        return max(0, min(endpos, len(string)) - pos)

    def _until_match(self, method: str, string: str, pos: int = 0, endpos: int = sys.maxsize):
        found = getattr(self._pattern, method)(string, pos, endpos)
        self._tally.chars += found.end() - pos if found else self._range(string, pos, endpos)
        return found

    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize):
        return self._until_match("match", string, pos, endpos)

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize):
        return self._until_match("search", string, pos, endpos)

    def fullmatch(self, string: str, pos: int = 0, endpos: int = sys.maxsize):
        return self._until_match("fullmatch", string, pos, endpos)

    def finditer(self, string: str, pos: int = 0, endpos: int = sys.maxsize):
        self._tally.chars += self._range(string, pos, endpos)
        return self._pattern.finditer(string, pos, endpos)

    def findall(self, string: str, pos: int = 0, endpos: int = sys.maxsize):
        self._tally.chars += self._range(string, pos, endpos)
        return self._pattern.findall(string, pos, endpos)

    def sub(self, repl, string: str, count: int = 0):
        self._tally.chars += len(string)
        return self._pattern.sub(repl, string, count)

    def subn(self, repl, string: str, count: int = 0):
        self._tally.chars += len(string)
        return self._pattern.subn(repl, string, count)

    def split(self, string: str, maxsplit: int = 0):
        self._tally.chars += len(string)
        return self._pattern.split(string, maxsplit)


@contextmanager
def counting_regex_work(*modules: ModuleType) -> Iterator[_Tally]:
    """Within the block, ``tally.chars`` grows by the characters the modules' patterns scan."""
    tally = _Tally()
    with pytest.MonkeyPatch.context() as patch:
        for module in modules:
            for name, value in vars(module).items():
                if isinstance(value, re.Pattern):
                    patch.setattr(module, name, _CountingPattern(value, tally))
                elif isinstance(value, dict) and value and all(isinstance(v, re.Pattern) for v in value.values()):
                    patch.setattr(module, name, {k: _CountingPattern(v, tally) for k, v in value.items()})
        yield tally
