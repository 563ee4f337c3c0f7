# Strategy: a simulator of the terminal-management (configuration) server
# (issue 8), a real HTTPS server with mutual TLS on the acquirers.http core,
# with the paths of the public management server this terminal's application
# talks to (Java package ru.shtrih.kds, controller/ConfController.java, under
# its base .../conf/{model}):
#   GET /terminals/{sn}       -> <epay header="/common/header_{pack}"><terminal ..>
#   GET /common/header_{pack} -> <hconf><include root name stage src/>...</hconf>
#   GET /common/{tag}_{id}    -> the included part
#   POST /message             remote management: the terminal's poll
#       <tm><sn/><ts/><state/>[<rsp><id/><status/>[<payload>..</payload>]</rsp>]</tm>
#     answered <tm/>, or <tm><cmd>CODE</cmd><id>ID</id>[<appmap>..]</tm> with
#     the next command issued for it (info, getlog, update, loadkeys,
#     updatesoftware; the last with the applications the server offers). A
#     command is sent once; its result comes in a later poll's <rsp> with
#     its id, and the next command waits for it.
# Only terminals whose client certificate chains to the configuration client
# CA get an answer (the TLS layer refuses the rest), and a terminal may fetch
# only its own part and poll only as itself: the serial number must match the
# certificate's common name (the device identifier ends with it).
# Documents are kept as bytes by path (whoever runs the simulator writes
# them), so tests can replace one (a bad include), bump a stage, or take the
# whole server down (HTTP 503).
from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from cryptography.x509.oid import NameOID

from acquirers.http import HTTPException, Request, Response, Router

__all__ = ["COMMANDS", "ConfigServerSimulator", "RemoteCommand"]

COMMANDS = ("info", "getlog", "update", "loadkeys", "updatesoftware")


def _attr(value: str) -> str:
    """A double-quoted XML attribute value (not xml.sax.saxutils: its module
    imports urllib.request, http.client and the email package)."""
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        value = value.replace(char, entity)
    return f'"{value}"'


@dataclass
class RemoteCommand:
    """One command issued to a terminal, and what became of it."""

    id: str
    code: str
    sn: str
    state: str = "pending"  # pending -> sent -> done
    status: str | None = None
    payload: str | None = None  # the <payload> element of the result, as XML text

    def as_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "code": self.code, "state": self.state, "status": self.status,
                "payload": self.payload}  # fmt: skip


@dataclass
class ConfigServerSimulator:
    """Serves documents by path; ``down`` answers 503 to everything."""

    documents: dict[str, bytes] = field(default_factory=dict)
    down: bool = False
    requests: list[str] = field(default_factory=list)
    commands: list[RemoteCommand] = field(default_factory=list)
    polls: int = 0
    # What `updatesoftware` offers: (id, typetag, name, tag, version) per application.
    applications: list[tuple[str, str, str, str, str]] = field(
        default_factory=lambda: [("1", "app", "cardcore", "cardcore", "0.2.0")]
    )

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self.router = Router()
        self.router.add("GET", "/terminals/{sn}", self._terminal)
        self.router.add("GET", "/common/{name}", self._common)
        self.router.add("POST", "/message", self._message)

    def issue(self, code: str, sn: str) -> RemoteCommand:
        """Queue ``code`` for the terminal ``sn``; it goes with its next poll."""
        if code not in COMMANDS:
            raise ValueError(f"unknown command {code!r} (one of {', '.join(COMMANDS)})")
        command = RemoteCommand(f"c{next(self._ids)}", code, sn)
        self.commands.append(command)
        return command

    def _check(self, request: Request) -> None:
        self.requests.append(request.path)
        if self.down:
            raise HTTPException(503, "configuration server is down")

    @staticmethod
    def _own(request: Request, sn: str) -> None:
        cert = request.certificate()
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME) if cert else []
        cn = str(names[0].value) if names else ""
        if not sn or not cn.endswith(sn):
            raise HTTPException(403, "certificate does not belong to this terminal")

    async def _terminal(self, request: Request) -> Response:
        self._check(request)
        self._own(request, request.path_params["sn"])
        return self._document(request.path)

    async def _common(self, request: Request) -> Response:
        self._check(request)
        return self._document(request.path)

    def _document(self, path: str) -> Response:
        body = self.documents.get(path)
        if body is None:
            raise HTTPException(404, f"no document {_attr(path)}")
        return Response(200, body, "application/xml; charset=utf-8", ())

    async def _message(self, request: Request) -> Response:
        self._check(request)
        root = request.xml()
        sn = (root.findtext("sn") or "").strip()
        if root.tag != "tm":
            raise HTTPException(400, "expected <tm>")
        self._own(request, sn)
        self.polls += 1
        mine = [c for c in self.commands if c.sn == sn]
        rsp = root.find("rsp")
        if rsp is not None:
            rid = (rsp.findtext("id") or "").strip()
            for command in mine:
                if command.id == rid and command.state == "sent":
                    command.state = "done"
                    command.status = (rsp.findtext("status") or "").strip()
                    payload = rsp.find("payload")
                    if payload is not None:
                        command.payload = ET.tostring(payload, encoding="unicode")
        answer = ET.Element("tm")
        waiting = any(c.state == "sent" for c in mine)
        pending = next((c for c in mine if c.state == "pending"), None)
        if pending is not None and not waiting:
            pending.state = "sent"
            ET.SubElement(answer, "cmd").text = pending.code
            ET.SubElement(answer, "id").text = pending.id
            if pending.code == "updatesoftware":
                appmap = ET.SubElement(answer, "appmap")
                for values in self.applications:
                    app = ET.SubElement(appmap, "app")
                    for name, value in zip(("id", "typetag", "name", "tag", "version"), values,
                                           strict=True):  # fmt: skip
                        ET.SubElement(app, name).text = value
        return Response.xml(answer)
