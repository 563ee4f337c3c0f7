# Strategy: request/response matching as jPOS's QMUX does it. A response
# belongs to a request when the MTI class (version and class digits, ISO
# 8583:1987 4.1.1: 02 financial, 04 reversal, 08 network...) and the values of
# field 11 (STAN) and field 41 (terminal id) agree, and the response's MTI is
# the request's with the function digit turned to "response" (0->1, 2->3) and
# the origin digit back to 0 (a 0401 repeat is answered by 0410).
from __future__ import annotations

from dataclasses import dataclass

from acquirers.errors import Iso8583Error
from acquirers.iso8583.codec import IsoMessage

__all__ = ["MatchKey", "is_request", "is_response_to", "match_key", "response_mti"]

_RESPONSE_FUNCTION = {"0": "1", "2": "3"}


@dataclass(frozen=True)
class MatchKey:
    mti_class: str
    stan: str
    tid: str


def is_request(mti: str) -> bool:
    return len(mti) == 4 and mti[2] in _RESPONSE_FUNCTION


def response_mti(request_mti: str) -> str:
    """0200 -> 0210, 0220 -> 0230, 0401 -> 0410, 0800 -> 0810."""
    if not is_request(request_mti):
        raise Iso8583Error(f"{request_mti} is not a request MTI")
    return request_mti[:2] + _RESPONSE_FUNCTION[request_mti[2]] + "0"


def match_key(msg: IsoMessage) -> MatchKey:
    return MatchKey(msg.mti[:2], msg.text_or_none(11) or "", (msg.text_or_none(41) or "").strip())


def is_response_to(request: IsoMessage, response: IsoMessage) -> bool:
    try:
        expected = response_mti(request.mti)
        return response.mti == expected and match_key(response) == match_key(request)
    except Iso8583Error:
        return False
