# Strategy: what getparameters (manual «Сведения о приложении и терминале»)
# shows of the provisioned state: names and stages of the terminal (tconf),
# common (cconf), EMV (econf) and CA-key (kconf) parts, the hosts of the
# configuration, acquirer and key-loading servers, and the expiry dates
# (dd.mm.yyyy) of the client certificates and the server CAs. Unknown values
# are left out; the command shows them as `none`.
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from cardcore.parameters import NONE, Parameters
from cardcore.provisioning import pki
from cardcore.provisioning.credentials import TMS_ROOT_FILE, identity
from cardcore.provisioning.errors import ProvisioningFormatError
from cardcore.terminal import Terminal

__all__ = ["provisioning_parameters"]


def _cert_date(path: Path) -> str | None:
    try:
        return pki.expiry_date(pki.load_certificate(path.read_bytes(), path.name))
    except (OSError, ProvisioningFormatError):
        return None


@lru_cache(maxsize=8)
def _cert_dates(generation: Path) -> tuple[tuple[str, str], ...]:
    """The known certificate dates of one generation. A published generation
    never changes (every change makes a new one), so they are read once."""
    files = {
        "cccert": identity("config").cert_file,
        "csca": TMS_ROOT_FILE,
        "accert": identity("acquirer").cert_file,
        "asca": identity("acquirer").ca_file,
        "kccert": identity("keyloader").cert_file,
        "ksca": identity("keyloader").ca_file,
    }
    dates = ((field, _cert_date(generation / name)) for field, name in files.items())
    return tuple((field, date) for field, date in dates if date)


def _host(url: str | None) -> str | None:
    return _hostname(url) if url else None


@lru_cache(maxsize=16)
def _hostname(url: str) -> str | None:  # (a few URLs, read on every getparameters)
    return urlsplit(url).hostname


# Each part's role in the provisioned state, and its stage and name fields.
_PARTS = (
    ("terminal", "tconf", "ntconf"),
    ("cconf", "cconf", "ncconf"),
    ("econf", "econf", "neconf"),
    ("kconf", "kconf", "nkconf"),
)


def provisioning_parameters(terminal: Terminal, out: Parameters) -> None:
    """Set in ``out`` the fields whose value is known; leave the others.
    (A getparameters answer has 32 fields, most of them unknown until
    activation: each value set costs, each one left out does not.)"""
    generation = terminal.generation
    state = generation.state
    if state.parts:
        for role, stage, name in _PARTS:
            part = state.parts.get(role)
            if part is not None:
                _put(out, stage, part.stage)
                _put(out, name, part.name)
    for field, date in _cert_dates(generation.path):
        setattr(out, field, date)
    if state.tms_url:
        _put(out, "cshost", _hostname(state.tms_url))
    acquirer, prov = terminal.config.acquirer, terminal.config.provisioning
    main, mirror = acquirer.main, acquirer.mirror
    if main or mirror:
        hosts = _servers(main.host if main else None, mirror.host if mirror else None)
        out.ashost, out.as_main_host, out.as_mirror_host = hosts
    if prov.key_server_main or prov.key_server_mirror:
        hosts = _servers(_host(prov.key_server_main), _host(prov.key_server_mirror))
        out.kshost, out.ks_main_host, out.ks_mirror_host = hosts


def _put(out: Parameters, field: str, value: str | None) -> None:
    if value:
        setattr(out, field, value)


def _servers(main: str | None, mirror: str | None) -> tuple[str, str, str]:
    """The host in use, the main server's and the mirror's (`none` if not
    known). The main's is in use when there is one (the mirror is the fallback)."""
    return main or mirror or NONE, main or NONE, mirror or NONE
