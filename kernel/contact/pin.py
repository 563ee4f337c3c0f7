# Strategy: the card side of PIN cardholder verification (EMV 4.3 Book 3
# 10.5.1-10.5.2, 6.5.12 VERIFY, 6.5.6 GET CHALLENGE; Book 2 7.1).
# - Before the first offline PIN the PIN Try Counter '9F17' is read with
#   GET DATA; 0 means the PIN is blocked and no PIN is asked for. A card that
#   does not return it is simply asked.
# - Plaintext PIN on a reader with its own keypad (services
#   `verify_pin_on_reader`): the reader sends VERIFY P2 '80' and the kernel
#   gets the card's status word, handled as below.
# - The PIN pad service returns the ISO 9564 format-2 PIN block. Plaintext:
#   VERIFY P2 '80' with the block. Enciphered: GET CHALLENGE (8 bytes), then
#   '7F' || PIN block || ICC unpredictable number || random padding to the
#   key length, enciphered with the ICC PIN encipherment key (or the ICC
#   key), VERIFY P2 '88'. A fresh challenge for every attempt.
# - '9000' -> PIN OK; '63Cx' -> wrong PIN, x tries left (x = 0 -> try limit
#   exceeded), otherwise ask again with INCORRECT PIN shown; '6983'/'6984' ->
#   PIN blocked. Any other status word ends the transaction.
# - Online PIN: the PIN pad service returns an enciphered block that is kept
#   for the authorisation request and never inspected or logged.
from __future__ import annotations

from base.crypto.pinblock import PinBlockError, decode_iso2
from base.crypto.rsa import RsaError, RsaPublicKey, rsa_public
from kernel import apdu
from kernel.contact.authentication import pin_encipherment_key
from kernel.contact.context import Context, log
from kernel.contact.cvm import PinResult
from kernel.errors import PinEntryBypassed, PinPadError
from kernel.services import MessageId, PinKind, PinRequest
from kernel.sw import error_for
from kernel.values import decode_cn

__all__ = ["CardPinActions"]

_MAX_ATTEMPTS = 16


class CardPinActions:
    """CvmActions against the card and the PIN pad service."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._tries: int | None = None
        self._counter_read = False

    async def _pin_try_counter(self) -> int | None:
        if not self._counter_read:
            self._counter_read = True
            response = await self.ctx.transport.send(apdu.get_data(0x9F17))
            if response.ok and len(response.data) == 4 and response.data[:3] == b"\x9f\x17\x01":
                self._tries = response.data[3]
        return self._tries

    def _request(self, kind: PinKind, attempt: int, pan: str | None = None) -> PinRequest:
        return PinRequest(
            kind=kind,
            amount=self.ctx.request.amount,
            currency=self.ctx.request.currency,
            tries_remaining=self._tries,
            attempt=attempt,
            languages=self.ctx.languages,
            pan=pan,
        )

    async def offline_pin(self, *, enciphered: bool) -> PinResult:
        ctx = self.ctx
        if await self._pin_try_counter() == 0:
            await ctx.display(MessageId.PIN_TRY_LIMIT_EXCEEDED)
            return PinResult.TRY_LIMIT_EXCEEDED
        key = None
        if enciphered:
            key = pin_encipherment_key(ctx)
            if key is None:
                return PinResult.UNAVAILABLE
        kind = PinKind.OFFLINE_ENCIPHERED if enciphered else PinKind.OFFLINE_PLAINTEXT
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            await ctx.display(MessageId.ENTER_PIN, amount=ctx.request.amount)
            request = self._request(kind, attempt)
            try:
                sw = None if enciphered else await ctx.services.verify_pin_on_reader(request)
                if sw is not None:
                    log.info("VERIFY sent by the reader's PIN keypad: %04X", sw)
                else:
                    block = await ctx.services.offline_pin(request)
            except PinEntryBypassed:
                return PinResult.BYPASSED
            except PinPadError as exc:
                log.info("PIN pad failure: %s", exc)
                return PinResult.PIN_PAD_ERROR
            if sw is None:
                try:
                    decode_iso2(block)
                except PinBlockError:
                    log.info("PIN pad returned a block that is not ISO 9564 format 2")
                    return PinResult.PIN_PAD_ERROR
                response = await self._send_verify(block, key)
                if response is None:
                    return PinResult.UNAVAILABLE
                sw = response.sw
            if sw == 0x9000:
                await ctx.display(MessageId.PIN_OK)
                return PinResult.OK
            if sw & 0xFFF0 == 0x63C0:
                self._tries = sw & 0x0F
                if self._tries == 0:
                    await ctx.display(MessageId.PIN_TRY_LIMIT_EXCEEDED)
                    return PinResult.TRY_LIMIT_EXCEEDED
                await ctx.display(MessageId.INCORRECT_PIN)
                continue
            if sw in (0x6983, 0x6984):
                self._tries = 0
                await ctx.display(MessageId.PIN_TRY_LIMIT_EXCEEDED)
                return PinResult.TRY_LIMIT_EXCEEDED
            raise error_for(sw, "VERIFY")
        return PinResult.TRY_LIMIT_EXCEEDED

    async def _send_verify(self, block: bytes, key: RsaPublicKey | None) -> apdu.Response | None:
        """VERIFY with the PIN pad's format-2 block, plaintext or enciphered
        under ``key``; None when the encipherment cannot be done."""
        ctx = self.ctx
        if key is None:
            return await ctx.transport.send(apdu.verify(block, enciphered=False))
        challenge = await ctx.transport.send(apdu.get_challenge())
        if not challenge.ok or len(challenge.data) != 8:
            log.info("GET CHALLENGE failed (%04X)", challenge.sw)
            return None
        pad = ctx.entropy.random_bytes(key.size - 17)
        try:
            data = rsa_public(key, b"\x7f" + block + challenge.data + pad)
        except RsaError:
            return None
        return await ctx.transport.send(apdu.verify(data, enciphered=True))

    async def online_pin(self) -> PinResult:
        ctx = self.ctx
        await ctx.display(MessageId.ENTER_PIN, amount=ctx.request.amount)
        try:
            pan = decode_cn(ctx.data[0x5A])
            block = await ctx.services.online_pin(self._request(PinKind.ONLINE, 1, pan))
        except PinEntryBypassed:
            return PinResult.BYPASSED
        except PinPadError as exc:
            log.info("PIN pad failure: %s", exc)
            return PinResult.PIN_PAD_ERROR
        if not block:
            return PinResult.PIN_PAD_ERROR
        ctx.online_pin_block = block
        return PinResult.OK
