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
def _cert_dates(generation: Path) -> dict[str, str | None]:
    """The certificate dates of one generation. A published generation never
    changes (every change makes a new one), so they are read once."""
    files = {
        "cccert": identity("config").cert_file,
        "csca": TMS_ROOT_FILE,
        "accert": identity("acquirer").cert_file,
        "asca": identity("acquirer").ca_file,
        "kccert": identity("keyloader").cert_file,
        "ksca": identity("keyloader").ca_file,
    }
    return {field: _cert_date(generation / name) for field, name in files.items()}


@lru_cache(maxsize=16)
def _host(url: str | None) -> str | None:  # (a few URLs, read on every getparameters)
    return urlsplit(url).hostname if url else None


def provisioning_parameters(terminal: Terminal) -> dict[str, str | None]:
    state = terminal.generation.state
    cfg = terminal.config
    out: dict[str, str | None] = {}
    for prefix, role in (("t", "terminal"), ("c", "cconf"), ("e", "econf"), ("k", "kconf")):
        part = state.parts.get(role)
        if part is not None:
            out[f"{prefix}conf"] = part.stage
            out[f"n{prefix}conf"] = part.name
    out.update(_cert_dates(terminal.generation.path))
    out["cshost"] = _host(state.tms_url)
    main, mirror = cfg.acquirer.main, cfg.acquirer.mirror
    out["as-main-host"] = main.host if main else None
    out["as-mirror-host"] = mirror.host if mirror else None
    out["ashost"] = out["as-main-host"] or out["as-mirror-host"]
    prov = cfg.provisioning
    out["ks-main-host"] = _host(prov.key_server_main)
    out["ks-mirror-host"] = _host(prov.key_server_mirror)
    out["kshost"] = out["ks-main-host"] or out["ks-mirror-host"]
    return out
