# Strategy: field 39 response codes are data (docs/conventions.md, 3): one
# TOML table per code set, loaded once, with the outcome class and the English
# and Russian texts (ISO 8583:1987 Annex A codes plus the EMV offline codes
# Y1/Y3/Z1/Z3 of EMV Book 4 A6). Unknown codes are declines with a generic text.
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources

__all__ = ["Outcome", "ResponseCode", "describe", "lookup", "table"]


class Outcome(Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    RETRY = "retry"
    RECONCILE = "reconcile"


@dataclass(frozen=True)
class ResponseCode:
    code: str
    outcome: Outcome
    en: str
    ru: str

    @property
    def approved(self) -> bool:
        return self.outcome is Outcome.APPROVED


@cache
def table(name: str = "iso8583-1987") -> dict[str, ResponseCode]:
    files = {"iso8583-1987": "response_codes.toml"}
    if name not in files:
        raise KeyError(f"unknown response code table {name!r}")
    text = resources.files("acquirers.iso8583").joinpath(files[name]).read_text("utf-8")
    data = tomllib.loads(text)
    return {
        code: ResponseCode(code, Outcome(entry["outcome"]), entry["en"], entry["ru"])
        for code, entry in data["codes"].items()
    }


def lookup(code: str, name: str = "iso8583-1987") -> ResponseCode:
    found = table(name).get(code)
    if found is not None:
        return found
    return ResponseCode(code, Outcome.DECLINED, f"Declined ({code})", f"Отказ ({code})")


def describe(code: str, language: str = "ru", name: str = "iso8583-1987") -> str:
    entry = lookup(code, name)
    return entry.ru if language == "ru" else entry.en
