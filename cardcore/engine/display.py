# Strategy: the ECR `display` message (manual «Сообщение display»): the code
# of EMV Book 4 section 11.2 (01..13) or Book A Table 9-5 (14..21), the
# manual's D1..D5 (host link, PIN try limit) and the terminal's D6/D7 (why no
# PIN could be entered; docs/protocol-decisions.md), the languages, the text,
# the UI status and value of EMV Book A / Book C-2 A.1.194 (status, hold time,
# value qualifier, value, currency). One table holds the Russian and English
# wording; the card's language preference picks the order.
from __future__ import annotations

from kernel.services import MessageId

__all__ = ["MESSAGES", "display_body"]

M = MessageId

# id -> (Russian, English)
MESSAGES: dict[int, tuple[str, str]] = {
    M.AMOUNT: ("СУММА", "AMOUNT"),
    M.AMOUNT_OK: ("СУММА ВЕРНА?", "AMOUNT OK?"),
    M.APPROVED: ("ОДОБРЕНО", "APPROVED"),
    M.CALL_YOUR_BANK: ("ПОЗВОНИТЕ В БАНК", "CALL YOUR BANK"),
    M.CANCEL_OR_ENTER: ("ОТМЕНА ИЛИ ВВОД", "CANCEL OR ENTER"),
    M.CARD_ERROR: ("ОШИБКА КАРТЫ", "CARD ERROR"),
    M.DECLINED: ("ОТКЛОНЕНО", "DECLINED"),
    M.ENTER_AMOUNT: ("ВВЕДИТЕ СУММУ", "ENTER AMOUNT"),
    M.ENTER_PIN: ("ВВЕДИТЕ ПИН", "ENTER PIN"),
    M.INCORRECT_PIN: ("НЕВЕРНЫЙ ПИН", "INCORRECT PIN"),
    M.INSERT_CARD: ("ВСТАВЬТЕ КАРТУ", "INSERT CARD"),
    M.NOT_ACCEPTED: ("НЕ ПРИНИМАЕТСЯ", "NOT ACCEPTED"),
    M.PIN_OK: ("ПИН ВЕРНЫЙ", "PIN OK"),
    M.PLEASE_WAIT: ("ПОДОЖДИТЕ", "PLEASE WAIT"),
    M.PROCESSING_ERROR: ("ОШИБКА ОБРАБОТКИ", "PROCESSING ERROR"),
    M.REMOVE_CARD: ("ИЗВЛЕКИТЕ КАРТУ", "REMOVE CARD"),
    M.USE_CHIP_READER: ("ИСПОЛЬЗУЙТЕ ЧИП", "USE CHIP READER"),
    M.USE_MAG_STRIPE: ("ИСПОЛЬЗУЙТЕ ПОЛОСУ", "USE MAG STRIPE"),
    M.TRY_AGAIN: ("ПОВТОРИТЕ", "TRY AGAIN"),
    M.WELCOME: ("ДОБРО ПОЖАЛОВАТЬ", "WELCOME"),
    M.PRESENT_CARD: ("ПРИЛОЖИТЕ КАРТУ", "PRESENT CARD"),
    M.PROCESSING: ("ОБРАБОТКА", "PROCESSING"),
    M.CARD_READ_OK: ("КАРТА СЧИТАНА", "CARD READ OK"),
    M.INSERT_OR_SWIPE_CARD: ("ВСТАВЬТЕ ИЛИ ПРОВЕДИТЕ КАРТУ", "INSERT OR SWIPE CARD"),
    M.PRESENT_ONE_CARD_ONLY: ("ПРИЛОЖИТЕ ОДНУ КАРТУ", "PRESENT ONE CARD ONLY"),
    M.APPROVED_PLEASE_SIGN: ("ОДОБРЕНО, ПОДПИШИТЕ", "APPROVED - PLEASE SIGN"),
    M.AUTHORISING_PLEASE_WAIT: ("АВТОРИЗАЦИЯ, ПОДОЖДИТЕ", "AUTHORISING - PLEASE WAIT"),
    M.TRY_ANOTHER_CARD: ("ИСПОЛЬЗУЙТЕ ДРУГУЮ КАРТУ", "TRY ANOTHER CARD"),
    M.INSERT_CARD_CONTACTLESS: ("ВСТАВЬТЕ КАРТУ", "INSERT CARD"),
    M.CLEAR_DISPLAY: ("", ""),
    M.SEE_PHONE: ("СМОТРИТЕ ТЕЛЕФОН", "SEE PHONE"),
    M.PRESENT_CARD_AGAIN: ("ПРИЛОЖИТЕ КАРТУ СНОВА", "PRESENT CARD AGAIN"),
    M.CONNECTING_TO_HOST: ("СОЕДИНЕНИЕ С БАНКОМ", "CONNECTING TO HOST"),
    M.RECONNECTING: ("ПОВТОРНОЕ СОЕДИНЕНИЕ", "RECONNECTING"),
    M.NO_HOST_RESPONSE: ("НЕТ ОТВЕТА БАНКА", "NO HOST RESPONSE"),
    M.HOST_RESPONSE_RECEIVED: ("ОТВЕТ ПОЛУЧЕН", "HOST RESPONSE RECEIVED"),
    M.PIN_TRY_LIMIT_EXCEEDED: ("ПРЕВЫШЕН ЛИМИТ ПОПЫТОК ВВОДА ПИН", "PIN TRY LIMIT EXCEEDED"),
    M.PIN_PAD_NOT_PRESENT: ("ПИН-ПАД НЕ ПОДКЛЮЧЕН", "PIN PAD NOT CONNECTED"),
    M.PIN_PAD_ERROR: ("ОШИБКА ПИН-ПАДА", "PIN PAD ERROR"),
}

# Book A 9.4 UI status: 00 not ready, 01 idle, 02 ready to read, 03 processing,
# 04 card read successfully, 05 processing error.
_STATUS: dict[int, str] = {
    M.INSERT_CARD: "02",
    M.PRESENT_CARD: "02",
    M.INSERT_OR_SWIPE_CARD: "02",
    M.INSERT_CARD_CONTACTLESS: "02",
    M.PRESENT_CARD_AGAIN: "02",
    M.TRY_AGAIN: "02",
    M.CARD_READ_OK: "04",
    M.REMOVE_CARD: "04",
    M.APPROVED: "04",
    M.APPROVED_PLEASE_SIGN: "04",
    M.DECLINED: "04",
    M.NOT_ACCEPTED: "05",
    M.CARD_ERROR: "05",
    M.PROCESSING_ERROR: "05",
    M.TRY_ANOTHER_CARD: "05",
    M.PIN_PAD_NOT_PRESENT: "05",
    M.PIN_PAD_ERROR: "05",
    M.WELCOME: "01",
    M.CLEAR_DISPLAY: "01",
}
_AMOUNT_MESSAGES = {M.AMOUNT, M.AMOUNT_OK, M.ENTER_PIN, M.APPROVED, M.DECLINED}


def _language_order(languages: str) -> str:
    """ISO 639-1 pairs, the card's preference first, then ru and en."""
    pairs = [languages[i : i + 2].lower() for i in range(0, len(languages) - 1, 2)]
    order = [p for p in pairs if p in ("ru", "en")]
    for fallback in ("ru", "en"):
        if fallback not in order:
            order.append(fallback)
    return "".join(order)


def display_body(
    message: int, *, languages: str, amount: int | None = None, currency: str = "643"
) -> dict[str, str]:
    ru, en = MESSAGES.get(message, ("", ""))
    order = _language_order(languages)
    text = ru if order.startswith("ru") else en
    with_amount = amount is not None and message in _AMOUNT_MESSAGES
    return {
        "code": f"{message:02X}",
        "language": order,
        "msg": text,
        "status": _STATUS.get(message, "03"),
        "hold-time": "000000",
        "value-qualifier": "10" if with_amount else "00",
        "value": f"{amount if with_amount else 0:012d}",
        "currency": currency,
    }
