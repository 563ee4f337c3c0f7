# Strategy: `iso87-ascii`, the ASCII ISO 8583:1987 layout, field by field as
# jPOS's ISO87APackager packs it (and pyiso8583's `default_ascii` spec
# decodes it): MTI 4 ASCII digits, bitmaps 16 upper-case hex characters
# (IFA_BITMAP); n fields ASCII digits, LLVAR/LLLVAR lengths 2/3 ASCII digits
# (IFA_LLNUM, IFA_LLLCHAR); x+n amounts 'C'/'D' and ASCII digits
# (IFA_AMOUNT); b fields as upper-case hex text, twice their byte length
# (IFA_BINARY: PIN block and MAC are 16 characters); ans fields ASCII. The
# LLLVAR fields that hold bytes here (55 ICC data, 120 key data) travel as
# their hex text in the packager's IFA_LLLCHAR, so at most 499 bytes. The
# field table is iso87.py; the message conventions are those of generic87.
from __future__ import annotations

from acquirers.iso8583.dialect import Dialect, MacRule
from acquirers.iso8583.dialects import generic87, iso87

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="iso87-ascii",
    description="ISO 8583:1987 as jPOS ISO87APackager: ASCII numerics, hex bitmap",
    fields=iso87.fields(binary_var_max=499),
    mac=MacRule(mtis=generic87.MAC_MTIS),
    conventions=generic87.CONVENTIONS,
    mti_encoding="ascii",
    bitmap_encoding="hex",
    numeric_encoding="ascii",
    binary_encoding="hex",
    length_encoding="ascii",
)
