# Strategy: EMV 4.3 Book 3 10.6 "Terminal Risk Management", pure decisions
# (case-table tested) plus the card reads they need.
# - Performed when the AIP asks for it (byte 1 b4), or always by terminal
#   option; TSI 'Terminal risk management was performed' then set.
# - 10.6.1 Floor limits: amount + split-sales amount (the most recent
#   approved transaction with the same PAN, from the journal through the
#   services) >= floor limit -> 'Transaction exceeds floor limit'.
# - 10.6.2 Random transaction selection (online-capable terminals, amounts
#   below the floor limit only): random
#   number 1..99; below the threshold the target percentage applies; from
#   the threshold up to the floor limit the percentage rises linearly from
#   the target to the maximum target (Book 3 Figure 11); number <= percentage
#   -> 'Transaction selected randomly for online processing'.
# - 10.6.3 Velocity checking, only when the card has both LCOL '9F14' and
#   UCOL '9F23': ATC '9F36' and Last Online ATC Register '9F13' by GET DATA;
#   either missing (or ATC not above the register) -> both 'exceeded' bits;
#   otherwise ATC - register > LCOL / > UCOL set them; register = 0 ->
#   'New card'.
# - Merchant forced online (request flag) -> TVR byte 4 b4.
from __future__ import annotations

from dataclasses import dataclass

from kernel import apdu
from kernel.contact.context import Context, log
from kernel.tvr import TsiBit, TvrBit
from kernel.values import decode_cn

__all__ = [
    "RiskFacts",
    "VelocityFacts",
    "floor_limit_exceeded",
    "random_selection",
    "risk_bits",
    "terminal_risk_management",
    "velocity_bits",
]


@dataclass(frozen=True, slots=True)
class VelocityFacts:
    lower_limit: int  # 9F14
    upper_limit: int  # 9F23
    atc: int | None  # 9F36 from GET DATA
    last_online_atc: int | None  # 9F13 from GET DATA


@dataclass(frozen=True, slots=True)
class RiskFacts:
    amount: int
    split_sales_amount: int
    floor_limit: int
    threshold: int
    target_percent: int
    max_target_percent: int
    random_number: int  # 1..99
    velocity: VelocityFacts | None = None
    force_online: bool = False
    online_capable: bool = True


def floor_limit_exceeded(amount: int, split: int, floor_limit: int) -> bool:
    return amount + split >= floor_limit


def random_selection(f: RiskFacts) -> bool:
    """Book 3 10.6.2 with the Figure 11 interpolation; only below the floor limit."""
    if f.amount >= f.floor_limit:
        return False
    if f.amount < f.threshold:
        percent = f.target_percent
    else:
        span = f.floor_limit - f.threshold
        if span <= 0:
            percent = f.max_target_percent
        else:
            rise = (f.max_target_percent - f.target_percent) * (f.amount - f.threshold)
            percent = f.target_percent + rise // span
    return f.random_number <= percent


def velocity_bits(v: VelocityFacts) -> set[TvrBit]:
    both = {
        TvrBit.LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED,
        TvrBit.UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED,
    }
    if v.atc is None or v.last_online_atc is None or v.atc <= v.last_online_atc:
        return both
    bits: set[TvrBit] = set()
    offline = v.atc - v.last_online_atc
    if offline > v.lower_limit:
        bits.add(TvrBit.LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED)
    if offline > v.upper_limit:
        bits.add(TvrBit.UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED)
    if v.last_online_atc == 0:
        bits.add(TvrBit.NEW_CARD)
    return bits


def risk_bits(f: RiskFacts) -> set[TvrBit]:
    bits: set[TvrBit] = set()
    if floor_limit_exceeded(f.amount, f.split_sales_amount, f.floor_limit):
        bits.add(TvrBit.FLOOR_LIMIT_EXCEEDED)
    elif f.online_capable and random_selection(f):
        bits.add(TvrBit.RANDOMLY_SELECTED_ONLINE)
    if f.velocity is not None:
        bits |= velocity_bits(f.velocity)
    if f.force_online:
        bits.add(TvrBit.MERCHANT_FORCED_ONLINE)
    return bits


async def _get_counter(ctx: Context, tag: int) -> int | None:
    response = await ctx.transport.send(apdu.get_data(tag))
    prefix = tag.to_bytes(2, "big") + b"\x02"
    if response.ok and len(response.data) == 5 and response.data[:3] == prefix:
        value = response.data[3:]
        ctx.data.setdefault(tag, value)
        return int.from_bytes(value, "big")
    log.info("GET DATA %04X: %04X", tag, response.sw)
    return None


async def terminal_risk_management(ctx: Context) -> None:
    if ctx.request.force_online:
        ctx.set_tvr(TvrBit.MERCHANT_FORCED_ONLINE)
    if not (ctx.aip_has(0, 0x08) or ctx.config.trm_regardless_of_aip):
        return
    aid = ctx.aid_cfg
    split = await ctx.services.split_sales_amount(decode_cn(ctx.data[0x5A]), ctx.request.currency)
    velocity = None
    lcol, ucol = ctx.data.get(0x9F14), ctx.data.get(0x9F23)
    if lcol is not None and ucol is not None:
        atc = await _get_counter(ctx, 0x9F36)
        last = await _get_counter(ctx, 0x9F13)
        velocity = VelocityFacts(lcol[0], ucol[0], atc, last)
    facts = RiskFacts(
        amount=ctx.request.amount,
        split_sales_amount=max(0, split),
        floor_limit=aid.floor_limit,
        threshold=aid.random_selection_threshold,
        target_percent=aid.random_selection_target_percent,
        max_target_percent=aid.random_selection_max_percent,
        random_number=ctx.entropy.random_percent(),
        velocity=velocity,
        force_online=ctx.request.force_online,
        online_capable=ctx.config.online_capable,
    )
    ctx.set_tvr(*risk_bits(facts))
    ctx.set_tsi(TsiBit.TERMINAL_RISK_MANAGEMENT_PERFORMED)
