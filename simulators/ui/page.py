# Strategy: the virtual terminal page's HTML, written on each request from
# page.html: the parts that never change while the terminal runs (the keypad,
# a button for every virtual card profile, the host's and the SBP customer's
# switches) are filled in here, escaped; terminal.js fills in what changes
# from the event stream. Every control a test drives has a stable
# `data-testid`: keypad-<key>, card-<profile>, remove-card, host-<mode>,
# sbp-<mode>; the live parts: display, leds, qr, pin, receipt, journal, ledger.
# A peer that may not act on the page gets it without the token and with
# every control disabled.
from __future__ import annotations

from html import escape
from importlib import resources

from simulators.ui.face import CardChoice

__all__ = ["HOST_MODES", "HOST_SWITCHES", "KEY_LABELS", "SBP_MODES", "asset", "render_page"]

# key -> (label, class): the keypad of a payment terminal, row by row.
KEY_LABELS: dict[str, tuple[str, str]] = {
    **{d: (d, "digit") for d in "123456789"},
    "0": ("0", "digit zero"),
    "cancel": ("✕ Cancel", "cancel"),
    "clear": ("← Clear", "clear"),
    "ok": ("✓ OK", "ok"),
}
# `cardcore sim host MODE`, with what each does, as the page explains it.
HOST_MODES = {
    "approve": "approves",
    "decline": "declines",
    "timeout": "does not answer",
    "down": "refuses connections",
}
HOST_SWITCHES = {
    "mismatch": "its batch has an extra transaction",
    "lose": "it lost its newest transaction",
    "refuse-upload": "it refuses the batch upload",
    "agree": "none of these: it agrees",
    "wrong-kcv": "working keys with a wrong check value",
    "good-kcv": "working keys as they should be",
}
SBP_MODES = {
    "pay": "pay the QR",
    "reject": "reject the QR",
    "none": "ignore the QR",
}
# The other ways to present a card: (how, label, what it does, the interface it needs).
CARD_WAYS = (
    ("insert", "insert", "into the chip reader", "contact"),
    ("tap", "tap", "on the contactless reader", "contactless"),
    ("also", "+ tap", "add it to the cards on the contactless reader (two collide)", "contactless"),
)
KIND_TITLES = {
    "contact": "Chip cards",
    "contactless": "Contactless cards and phones",
    "mifare": "MIFARE and other cards",
}


def asset(name: str) -> bytes:
    return resources.files("simulators.ui").joinpath(name).read_bytes()


def _button(testid: str, label: str, attrs: dict[str, str], enabled: bool, title: str = "") -> str:
    extra = "".join(f' data-{k}="{escape(v)}"' for k, v in attrs.items())
    titled = f' title="{escape(title)}"' if title else ""
    disabled = "" if enabled else " disabled"
    return (
        f'<button type="button" data-testid="{escape(testid)}"{extra}{titled}{disabled}>'
        f"{label}</button>"
    )


def _keypad(enabled: bool) -> str:
    return "\n".join(
        _button(f"keypad-{key}", escape(label), {"act": "key", "key": key, "kind": kind}, enabled)
        for key, (label, kind) in KEY_LABELS.items()
    )


def _card(card: CardChoice, enabled: bool) -> str:
    name = card.name
    usual = card.interfaces[0]
    verb = "insert" if usual == "contact" else "tap"
    main = _button(
        f"card-{name}",
        f'<span class="name">{escape(name)}</span>'
        f'<span class="desc">{escape(card.description)}</span>',
        {"act": "card", "profile": name, "how": "usual"},
        enabled,
        f"{verb} {name}",
    )
    ways = "".join(
        _button(f"{how}-{name}", label, {"act": "card", "profile": name, "how": how}, enabled, why)
        for how, label, why, interface in CARD_WAYS
        if interface in card.interfaces
    )
    return (
        f'<li class="card kind-{card.kind}" data-profile="{escape(name)}">{main}'
        f'<span class="ways">{ways}</span></li>'
    )


def _cards(cards: list[CardChoice], enabled: bool) -> str:
    parts = []
    for kind, title in KIND_TITLES.items():
        chosen = [c for c in cards if c.kind == kind]
        if chosen:
            items = "\n".join(_card(c, enabled) for c in chosen)
            parts.append(f'<h3>{escape(title)}</h3>\n<ul class="card-list">\n{items}\n</ul>')
    return "\n".join(parts)


def _switches(prefix: str, table: dict[str, str], act: str, enabled: bool) -> str:
    buttons = []
    for mode, what in table.items():
        label = escape(what if act == "sbp" else mode)
        buttons.append(
            _button(f"{prefix}-{mode}", label, {"act": act, "mode": mode}, enabled, what)
        )
    return "\n".join(buttons)


def render_page(cards: list[CardChoice], *, token: str | None) -> bytes:
    """The page; ``token`` None: for a peer that may only look."""
    enabled = token is not None
    fills = {
        "{{token}}": escape(token or ""),
        "{{access}}": "writable" if enabled else "read-only",
        "{{keypad}}": _keypad(enabled),
        "{{cards}}": _cards(cards, enabled),
        "{{remove}}": _button(
            "remove-card", "remove the card", {"act": "remove"}, enabled, "take every card away"
        ),
        "{{host-modes}}": _switches("host", HOST_MODES, "host", enabled),
        "{{host-switches}}": _switches("host", HOST_SWITCHES, "host", enabled),
        "{{sbp}}": _switches("sbp", SBP_MODES, "sbp", enabled),
    }
    page = asset("page.html").decode("utf-8")
    for marker, value in fills.items():
        page = page.replace(marker, value)
    return page.encode("utf-8")
