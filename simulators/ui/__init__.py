# Strategy: the virtual terminal (`cardcore serve --simulator --ui-port PORT`):
# the simulated terminal's face in a browser, live. face.py reads the
# simulated devices, the journal and the host simulator; page.py writes the
# page; guard.py says who may do what; server.py serves it all over the
# repository's HTTP core. Imported only in simulator mode, by the composition
# root (cardcore.app).
from __future__ import annotations

from simulators.ui.server import UiOptions, serve_ui

__all__ = ["UiOptions", "serve_ui"]
