"""The command-line client's pieces that need no terminal: the progress line (on a
terminal only) and what an answer's exit code is."""

from __future__ import annotations

import io

from cardcore.clientcli import Progress, exit_code, with_saved_token
from cardcore.contract import Exit
from cardcore.protocol.xmlcodec import Message


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_from_keepalives_and_large_answers_on_a_terminal() -> None:
    out = Tty()
    progress = Progress(out)
    progress.keepalive({})  # the manual's bare keepalive: nothing to show
    assert out.getvalue() == ""
    body = {"progress": {"operation": "batch-upload", "done": "120", "total": "1000"}}
    progress.keepalive(body)
    assert out.getvalue() == "\r\x1b[Kbatch upload: 120/1000"
    progress.INTERVAL = 0
    progress.received(3 << 20, 43 << 20)
    assert out.getvalue().endswith("\r\x1b[Kreceiving the answer: 3.0/43.0 MiB")
    progress.clear()
    assert out.getvalue().endswith("\r\x1b[K")


def test_no_progress_when_stderr_is_not_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(out)
    progress.keepalive({"progress": {"operation": "batch-upload", "done": "1", "total": "2"}})
    progress.received(1 << 20, 2 << 20)
    progress.clear()
    assert out.getvalue() == ""


def test_exit_codes_of_answers() -> None:
    def transaction(tstatus: str) -> Message:
        return Message("transaction", {"status": "ok", "receipt": {"tstatus": tstatus}})

    assert exit_code(transaction("approved")) is Exit.OK
    assert exit_code(transaction("declined")) is Exit.REFUSED
    assert exit_code(Message("transaction", {"status": "notdetected"})) is Exit.REFUSED
    assert exit_code(Message("report", {"status": "ok"})) is Exit.OK
    assert exit_code(Message("error", {"status": "formaterror"})) is Exit.REFUSED


def test_a_command_from_a_file_gets_the_saved_token_only_when_it_takes_one() -> None:
    token = "0123456789ABCDEF0123456789ABCDEF"
    own = "FEDCBA9876543210FEDCBA9876543210"
    filled = with_saved_token(Message("getparameters"), token)
    assert filled == Message("getparameters", {"token": token})
    kept = Message("loadmasterkeys", {"token": own})
    assert with_saved_token(kept, token) is kept
    as_attribute = Message("logout", attrs={"token": own})
    assert with_saved_token(as_attribute, token) is as_attribute
    sethostkey = with_saved_token(Message("sethostkey", {"name": "k", "material": "m"}), token)
    assert sethostkey.body == {"token": token, "name": "k", "material": "m"}
    for other in (Message("transaction", {"type": "purchase"}), Message("report"), Message("x")):
        assert with_saved_token(other, token) is other
    assert with_saved_token(Message("getparameters"), None) == Message("getparameters")
