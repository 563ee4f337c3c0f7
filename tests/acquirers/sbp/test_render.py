"""QR rendering of payload URLs for consoles and demos (segno)."""

from __future__ import annotations

import segno

from acquirers.sbp.render import qr_svg, qr_text
from base.xmlread import read_element

URL = "https://qr.nspk.ru/AD100004BAL7227F9BNP6KNE007J9B3K?type=02&bank=100000000007&sum=1&cur=RUB&crc=AB75"


def _modules_from_text(text: str) -> list[list[bool]]:
    """Undo the half-block drawing: each character is two modules, top and bottom."""
    top = {"█": True, "▀": True, "▄": False, " ": False}
    bottom = {"█": True, "▄": True, "▀": False, " ": False}
    rows: list[list[bool]] = []
    for line in text.splitlines():
        rows.append([top[c] for c in line])
        rows.append([bottom[c] for c in line])
    return rows


def test_text_rendering_draws_the_symbol() -> None:
    text = qr_text(URL, border=2)
    symbol = segno.make(URL, error="m", micro=False)
    size = symbol.symbol_size(border=2)[0]
    drawn = _modules_from_text(text)[:size]
    # The terminal drawing is light-on-dark: a dark module is a blank.
    expected = [[not bool(m) for m in row] for row in symbol.matrix_iter(border=2)]
    assert drawn == expected
    assert symbol.version >= 5 and symbol.error == "M"


def test_svg_rendering_is_well_formed() -> None:
    svg = qr_svg(URL, scale=3)
    root = read_element(svg.encode())
    assert root.tag.endswith("svg")
    assert root.get("width") == root.get("height")
