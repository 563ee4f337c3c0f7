# Strategy: the ISO 8583:1987 data elements (clause 4.3, field table) as the
# de facto binary and ASCII layouts carry them: per field the attribute and
# length of the standard, in the representation jPOS's ISO87BPackager and
# ISO87APackager give it (the layouts most hosts and host simulators speak).
# The representation itself (BCD or ASCII digits, raw or hex binary, BCD or
# ASCII length prefixes) is the dialect's default; a field here names an
# encoding only where both packagers agree on one that differs from it:
# fields 49-51 (n3 in the standard) are three ASCII characters in both.
# Fields the standard leaves to private or national use (46-48, 56-63,
# 105-127) are ans LLLVAR 999, as in the packagers; 55 (ICC data) and 120
# (key management data) hold bytes here, which in the binary layout is the
# packagers' LLLCHAR byte for byte, and in the ASCII layout their hex text.
# Two fields follow the standard where the packagers do not: 93 (response
# indicator) is an5 and 96 (message security code) b64, i.e. 8 bytes, as in
# ISO 8583:1987's data element directory, py8583 and pyiso8583 (the packagers
# have IF_CHAR(6) and IFB_BINARY(16)). Field 65 (tertiary bitmap) is not
# supported.
from __future__ import annotations

from acquirers.iso8583.dialect import FieldDef, Sensitivity, ans, b, n, xn, z

__all__ = ["fields"]


def fields(*, binary_var_max: int = 999) -> dict[int, FieldDef]:
    """The field table; ``binary_var_max``: the byte length of the LLLVAR
    binary fields (55, 120), 499 where they travel as hex text in 999
    characters."""
    secret = Sensitivity.SECRET
    table: list[FieldDef] = [
        n(2, 19, "Primary account number", var=2, sensitivity=Sensitivity.PAN),
        n(3, 6, "Processing code"),
        n(4, 12, "Amount, transaction"),
        n(5, 12, "Amount, settlement"),
        n(6, 12, "Amount, cardholder billing"),
        n(7, 10, "Transmission date and time (MMDDhhmmss, UTC)"),
        n(8, 8, "Amount, cardholder billing fee"),
        n(9, 8, "Conversion rate, settlement"),
        n(10, 8, "Conversion rate, cardholder billing"),
        n(11, 6, "System trace audit number"),
        n(12, 6, "Time, local transaction (hhmmss)"),
        n(13, 4, "Date, local transaction (MMDD)"),
        n(14, 4, "Date, expiration (YYMM)", sensitivity=secret),
        n(15, 4, "Date, settlement (MMDD)"),
        n(16, 4, "Date, conversion"),
        n(17, 4, "Date, capture"),
        n(18, 4, "Merchant type"),
        n(19, 3, "Acquiring institution country code"),
        n(20, 3, "PAN extended, country code"),
        n(21, 3, "Forwarding institution country code"),
        n(22, 3, "Point of service entry mode"),
        n(23, 3, "Card sequence number"),
        n(24, 3, "Network international identifier"),
        n(25, 2, "Point of service condition code"),
        n(26, 2, "Point of service PIN capture code"),
        n(27, 1, "Authorization identification response length"),
        xn(28, 8, "Amount, transaction fee"),
        xn(29, 8, "Amount, settlement fee"),
        xn(30, 8, "Amount, transaction processing fee"),
        xn(31, 8, "Amount, settlement processing fee"),
        n(32, 11, "Acquiring institution identification code", var=2),
        n(33, 11, "Forwarding institution identification code", var=2),
        ans(34, 28, "PAN extended", var=2, sensitivity=Sensitivity.PAN),
        z(35, 37, "Track 2 data"),
        ans(36, 104, "Track 3 data", var=3, sensitivity=secret),
        ans(37, 12, "Retrieval reference number"),
        ans(38, 6, "Authorization identification response"),
        ans(39, 2, "Response code"),
        ans(40, 3, "Service restriction code"),
        ans(41, 8, "Card acceptor terminal identification"),
        ans(42, 15, "Card acceptor identification code"),
        ans(43, 40, "Card acceptor name/location"),
        ans(44, 25, "Additional response data", var=2),
        ans(45, 76, "Track 1 data", var=2, sensitivity=secret),
        ans(46, 999, "Additional data, ISO", var=3),
        ans(47, 999, "Additional data, national", var=3),
        ans(48, 999, "Additional data, private", var=3),
        n(49, 3, "Currency code, transaction", encoding="ascii"),
        n(50, 3, "Currency code, settlement", encoding="ascii"),
        n(51, 3, "Currency code, cardholder billing", encoding="ascii"),
        b(52, 8, "PIN data", sensitivity=secret),
        n(53, 16, "Security related control information"),
        ans(54, 120, "Additional amounts", var=3),
        b(55, binary_var_max, "ICC system related data", var=3),
        *(ans(i, 999, "Reserved", var=3) for i in range(56, 64)),
        b(64, 8, "Message authentication code", sensitivity=secret),
        n(66, 1, "Settlement code"),
        n(67, 2, "Extended payment code"),
        n(68, 3, "Receiving institution country code"),
        n(69, 3, "Settlement institution country code"),
        n(70, 3, "Network management information code"),
        n(71, 4, "Message number"),
        n(72, 4, "Message number, last"),
        n(73, 6, "Date, action (YYMMDD)"),
        n(74, 10, "Credits, number"),
        n(75, 10, "Credits, reversal number"),
        n(76, 10, "Debits, number"),
        n(77, 10, "Debits, reversal number"),
        n(78, 10, "Transfer, number"),
        n(79, 10, "Transfer, reversal number"),
        n(80, 10, "Inquiries, number"),
        n(81, 10, "Authorizations, number"),
        n(82, 12, "Credits, processing fee amount"),
        n(83, 12, "Credits, transaction fee amount"),
        n(84, 12, "Debits, processing fee amount"),
        n(85, 12, "Debits, transaction fee amount"),
        n(86, 16, "Credits, amount"),
        n(87, 16, "Credits, reversal amount"),
        n(88, 16, "Debits, amount"),
        n(89, 16, "Debits, reversal amount"),
        n(90, 42, "Original data elements"),
        ans(91, 1, "File update code"),
        ans(92, 2, "File security code"),
        ans(93, 5, "Response indicator"),
        ans(94, 7, "Service indicator"),
        ans(95, 42, "Replacement amounts"),
        b(96, 8, "Message security code", sensitivity=secret),
        xn(97, 16, "Amount, net settlement"),
        ans(98, 25, "Payee"),
        n(99, 11, "Settlement institution identification code", var=2),
        n(100, 11, "Receiving institution identification code", var=2),
        ans(101, 17, "File name", var=2),
        ans(102, 28, "Account identification 1", var=2),
        ans(103, 28, "Account identification 2", var=2),
        ans(104, 100, "Transaction description", var=3),
        *(ans(i, 999, "Reserved", var=3) for i in range(105, 120)),
        b(120, binary_var_max, "Key management data", var=3, sensitivity=secret),
        *(ans(i, 999, "Reserved", var=3) for i in range(121, 128)),
        b(128, 8, "Message authentication code", sensitivity=secret),
    ]
    return {f.number: f for f in table}
