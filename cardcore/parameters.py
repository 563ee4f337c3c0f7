# Strategy: the answer of getparameters (manual «Сведения о приложении и
# терминале») as data: its 32 fields in the manual's order, `none` where the
# terminal has no value (yet). Its own module: the command fills it, and the
# provisioning state (cardcore.provisioning.info) fills its part.
from __future__ import annotations

import msgspec

__all__ = ["NONE", "PARAMETER_NAMES", "Parameters"]

NONE = "none"


# getparameters, in the manual's order. The manual's example spells the
# config-server client certificate date `cccert`, its field list `ccert`:
# both are sent, with the same date, so a register written from either parses.
# (A struct of text fields is laid out by the XML encoder from its field
# list: no per-answer look-up of the names.)
class Parameters(msgspec.Struct, rename="kebab", gc=False):
    """«Сведения о приложении и терминале»: `none` where the terminal has no
    value (yet)."""

    sn: str = NONE
    app: str = NONE
    firmware_mcu: str = NONE
    firmware_boot: str = NONE
    os: str = NONE
    sdk: str = NONE
    tid: str = NONE
    mid: str = NONE
    tconf: str = NONE
    ntconf: str = NONE
    cconf: str = NONE
    ncconf: str = NONE
    econf: str = NONE
    neconf: str = NONE
    kconf: str = NONE
    nkconf: str = NONE
    acqid: str = NONE
    cccert: str = NONE
    ccert: str = NONE
    csca: str = NONE
    cshost: str = NONE
    accert: str = NONE
    asca: str = NONE
    ashost: str = NONE
    as_main_host: str = NONE
    as_mirror_host: str = NONE
    kccert: str = NONE
    ksca: str = NONE
    kshost: str = NONE
    ks_main_host: str = NONE
    ks_mirror_host: str = NONE
    devid: str = NONE


PARAMETER_NAMES: tuple[str, ...] = Parameters.__struct_encode_fields__
