# Strategy: draw an SBP payload URL as a QR code for consoles and demos (the
# ECR client is the one that normally draws it, manual §«Система быстрых
# платежей»: `displayqrcode show` carries only the URL). Uses segno (ISO/IEC
# 18004 encoder) from the optional `qr` extra, imported only when called so
# the terminal itself does not need it. Error correction level M, byte mode.
from __future__ import annotations

import io
from typing import TYPE_CHECKING

from acquirers.sbp.errors import SbpError

if TYPE_CHECKING:
    import segno

__all__ = ["qr_svg", "qr_text"]


def _make(url: str) -> segno.QRCode:
    try:
        import segno
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise SbpError("QR rendering needs the 'qr' extra (segno)") from exc
    return segno.make(url, error="m", micro=False)


def qr_text(url: str, *, border: int = 2) -> str:
    """The QR code as text: two modules per line with half-block characters."""
    buffer = io.StringIO()
    _make(url).terminal(out=buffer, compact=True, border=border)
    return buffer.getvalue()


def qr_svg(url: str, *, scale: int = 4, border: int = 4) -> str:
    """The QR code as a standalone SVG document."""
    buffer = io.BytesIO()
    _make(url).save(buffer, kind="svg", scale=scale, border=border, xmldecl=True)
    return buffer.getvalue().decode("utf-8")
