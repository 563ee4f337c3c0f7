# Strategy: an answer too large to hold in memory (a full X-report of a big
# batch): the handler's `stream` callback writes its children into a spooled
# temporary file in a worker thread, sealed there too when the command came
# encrypted (the tag goes first, so the ciphertext waits in a second spool);
# the connection then sends it in chunks. Memory stays flat whatever the size
# of the answer.
from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from typing import IO

from cardcore.protocol.secure import ENCRYPTED, ENCRYPTED_DATA, seal_stream
from cardcore.protocol.xmlcodec import Body, XmlWriter, open_tag

__all__ = ["SEND_CHUNK", "SPOOL_MEMORY", "spool_answer"]

# In-memory part of a streamed answer; beyond it the spool is a temporary file.
SPOOL_MEMORY = 1 << 20
SEND_CHUNK = 1 << 18


def spool_answer(
    name: str,
    body: Body,
    attrs: Mapping[str, str],
    stream: Callable[[XmlWriter], None],
    key: bytes | None,
    iv: bytes | None,
) -> IO[bytes]:
    """The encoded packet of a streamed answer (blocking: a worker thread)."""

    def children(out: IO[bytes]) -> None:
        writer = XmlWriter(out, depth=1)
        for child, value in body.items():
            writer.element(child, value)
        stream(writer)

    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - returned
    try:
        out.write(f"{open_tag(name, attrs)}\n".encode())
        if key is None:
            children(out)
        else:
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as plain:
                plain.write(f"<{ENCRYPTED_DATA}>\n".encode())
                children(plain)
                plain.write(f"</{ENCRYPTED_DATA}>".encode())
                plain.seek(0)
                out.write(f"  <{ENCRYPTED}>".encode())
                seal_stream(key, plain, out, iv)
                out.write(f"</{ENCRYPTED}>\n".encode())
        out.write(f"</{name}>".encode())
    except BaseException:
        out.close()
        raise
    return out
