# Strategy: `iso87-binary`, the de facto binary ISO 8583:1987 layout, field
# by field as jPOS's ISO87BPackager packs it (org.jpos.iso.packager; the
# layout pyiso8583 and py8583 users configure for "BCD" hosts): MTI 2 bytes
# BCD, bitmaps 8 bytes binary; n fields BCD, fixed ones left-padded with 0
# (IFB_NUMERIC pad=true), LLVAR ones with a one-byte BCD length counted in
# digits and right-padded with 0 (IFB_LLNUM pad=false, track 2 included, '='
# as nibble D); x+n amounts (28-31, 97) a sign byte 'C'/'D' in ASCII and the
# digits BCD (IFB_AMOUNT); ans fields ASCII with a BCD length of 1 (LL) or 2
# (LLL) bytes; b fields raw (IFB_BINARY); 49-51 three ASCII characters
# (IF_CHAR); 95 42 ASCII characters. The field table is iso87.py; the
# message conventions (processing codes, private fields, MAC) are those of
# generic87, which a host's own specification replaces in its own dialect.
from __future__ import annotations

from acquirers.iso8583.dialect import LEFT_0, RIGHT_0, Dialect, MacRule
from acquirers.iso8583.dialects import generic87, iso87

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="iso87-binary",
    description="ISO 8583:1987 as jPOS ISO87BPackager: BCD numerics, binary bitmap",
    fields=iso87.fields(),
    mac=MacRule(mtis=generic87.MAC_MTIS),
    conventions=generic87.CONVENTIONS,
    mti_encoding="bcd",
    bitmap_encoding="binary",
    numeric_encoding="bcd",
    binary_encoding="binary",
    length_encoding="bcd",
    fixed_padding=LEFT_0,
    var_padding=RIGHT_0,
)
