# Strategy: `updateconfiguration` (manual «Проверка и загрузка обновлений
# конфигурации с сервера конфигураций»; issue 8) against the terminal-
# management server.
# - HTTPS (httpx on trio) with the configuration client certificate from
#   activation; the server must chain to the root from confdata/cert.
# - GET {base}/terminals/{sn} -> the terminal part in <epay header=..>;
#   GET {base}{header} -> <hconf> with one <include> per part;
#   GET {base}{src} for each include whose stage differs from the installed
#   one (stages are opaque: only equality matters). The terminal part itself
#   is replaced when its stage differs.
# - Everything fetched is parsed and validated, the overlay is rebuilt from
#   the new documents plus the unchanged installed ones, and the resulting
#   Config is validated in full before anything is written; then one staged
#   generation is published (store.py). Nothing that differs: nothing written.
from __future__ import annotations

import datetime as dt
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from acquirers.http import map_httpx_errors
from cardcore.provisioning import documents
from cardcore.provisioning.credentials import TMS_ROOT_FILE, client_ssl_context
from cardcore.provisioning.errors import (
    ProvisioningLinkError,
    ProvisioningMissingData,
    ProvisioningTimeout,
)
from cardcore.provisioning.store import DOCUMENTS_DIR, PartInfo
from cardcore.terminal import Terminal

__all__ = ["UpdateResult", "fetch", "update_configuration"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpdateResult:
    changed: list[str]


async def fetch(
    client: httpx.AsyncClient, url: str, limit: int, *, body: bytes | None = None
) -> bytes:
    """GET ``url`` (POST ``body`` to it) on the configuration server: the
    answer's body, at most ``limit`` bytes."""
    method = "GET" if body is None else "POST"
    headers = {} if body is None else {"content-type": "application/xml; charset=utf-8"}
    with map_httpx_errors(
        "configuration server", communication=ProvisioningLinkError, timeout=ProvisioningTimeout
    ):
        async with client.stream(method, url, content=body, headers=headers) as response:
            if response.status_code != 200:
                raise ProvisioningLinkError(
                    f"configuration server answered {response.status_code} for {url}"
                )
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise ProvisioningLinkError(f"configuration server document too large: {url}")
            return body


def _doc_file(root: str) -> str:
    return f"{DOCUMENTS_DIR}/{root}.xml"


async def update_configuration(terminal: Terminal) -> UpdateResult:
    generation = terminal.generation
    state = generation.state
    if not state.activated or not state.tms_url or not state.sn:
        raise ProvisioningMissingData("the terminal is not activated")
    cfg = terminal.config.provisioning
    context = client_ssl_context(generation, "config", TMS_ROOT_FILE)
    base = state.tms_url
    limit = cfg.max_document
    fetched: dict[str, bytes] = {}
    async with httpx.AsyncClient(verify=context, timeout=cfg.http_timeout) as client:
        terminal_data = await fetch(client, f"{base}/terminals/{quote(state.sn)}", limit)
        terminal_doc = documents.parse_terminal(terminal_data)
        header_data = await fetch(client, f"{base}{terminal_doc.header}", limit)
        includes = documents.parse_header(header_data)
        installed = state.parts
        for inc in includes:
            have = installed.get(inc.root)
            if have is None or have.stage != inc.stage or have.name != inc.name:
                fetched[inc.root] = await fetch(client, f"{base}{inc.src}", limit)
    # Validate everything: new parts from the wire, unchanged ones from disk.
    elements: dict[str, ET.Element] = {}
    for inc in includes:
        data = fetched.get(inc.root)
        if data is None:
            data = generation.read(installed[inc.root].file) or b""
        elements[inc.root] = documents.parse_part(data, inc)
    overlay = documents.translate(terminal_doc, elements)
    config = terminal.provisioned_config(overlay)
    terminal_info = installed.get("terminal")
    terminal_changed = (
        terminal_info is None
        or terminal_info.stage != terminal_doc.stage
        or terminal_info.name != terminal_doc.name
        or generation.read(terminal_info.file) != terminal_data
    )
    removed = [root for root in installed if root != "terminal" and root not in elements]
    changed = (["terminal"] if terminal_changed else []) + sorted(fetched) + removed
    if not changed and state.header == terminal_doc.header:
        log.info("configuration: up to date")
        return UpdateResult([])
    with terminal.provisioning.stage() as staging:
        parts: dict[str, PartInfo] = {
            "terminal": PartInfo(
                root=terminal_doc.root,
                name=terminal_doc.name,
                stage=terminal_doc.stage,
                file=_doc_file("terminal"),
                src=f"/terminals/{state.sn}",
            )
        }
        staging.write(_doc_file("terminal"), terminal_data)
        staging.write(_doc_file("header"), header_data)
        for inc in includes:
            parts[inc.root] = PartInfo(
                root=inc.root, name=inc.name, stage=inc.stage, file=_doc_file(inc.root), src=inc.src
            )
            if inc.root in fetched:
                staging.write(_doc_file(inc.root), fetched[inc.root])
        for root in removed:
            staging.remove(installed[root].file)
        staging.state.parts = parts
        staging.state.header = terminal_doc.header
        staging.state.updated_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        staging.set_overlay(overlay)
        terminal.publish(staging, config)
    log.info("configuration updated: %s", ", ".join(changed) or "header")
    return UpdateResult(changed)
