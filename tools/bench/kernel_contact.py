"""Kernel CPU time per contact transaction with CDA and online approval.

    cardcore-bench kernel-contact [--runs N] [--profile NAME]

Method:
1. One transaction runs against the virtual card (simulators.devices, profile `default`:
   CDA, offline PIN, ARPC in the second GENERATE AC) with an issuer host that verifies the ARQC and
   answers the ARPC; every C-APDU/R-APDU pair and the host answer are recorded. The
   emulator's own CPU time for that run is measured and reported separately.
2. The kernel then runs N times against a replayer that hands back the recorded R-APDUs
   (checking each C-APDU is the recorded one) and the recorded host answer, with a fixed
   unpredictable number and date. So the figure excludes card latency, the emulator's work
   and host cryptography; what is left is the kernel (selection, GPO, records, CDA key
   recovery, CVM, TRM, TAA, two GENERATE AC with CDA verification, issuer data) plus the
   trivial replayer and stub services.
3. Split: one instrumented run captures every RSA public-key operation and every outermost
   TLV/DOL codec call (base.tlv, kernel.dol); those calls are then replayed in a loop and
   timed alone. Flow = total - RSA - TLV.
"""

from __future__ import annotations

import datetime as dt
import functools
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

import trio

import kernel.contact.pin as pin_module
import kernel.oda as oda_module
from base import tlv
from base.crypto import rsa
from base.crypto.pinblock import encode_iso2
from kernel import dol
from kernel.capk import CaKeyStore
from kernel.config import AidConfig, TerminalConfig, TransactionRequest
from kernel.contact import ContactKernel
from kernel.outcome import Decision, Outcome
from kernel.selection import Candidate
from kernel.services import MessageId, OnlineRequest, OnlineResponse, OnlineResult, PinRequest
from simulators.devices import VirtualCard, load_profile
from simulators.devices.pki import load_issuer_keys
from tools.bench import bench_parser

H = bytes.fromhex
DAY = dt.datetime(2025, 6, 15, 12, 0)
AMOUNT = 50_000  # above the floor limit: ARQC, online approval, CDA on both GENERATE AC


class Entropy:
    def unpredictable_number(self) -> bytes:
        return H("1A2B3C4D")

    def random_percent(self) -> int:
        return 99

    def random_bytes(self, n: int) -> bytes:
        return bytes(n)

    def now(self) -> dt.datetime:
        return DAY


class Services:
    def __init__(self, online: Callable[[OnlineRequest], OnlineResponse]) -> None:
        self.online = online
        self.pin = encode_iso2("1234")

    async def display(
        self, message: MessageId, *, amount: int | None = None, languages: str = ""
    ) -> None:
        return None

    async def select_application(self, candidates: Sequence[Candidate]) -> int | None:
        return 0

    async def confirm_application(self, candidate: Candidate) -> bool:
        return True

    async def offline_pin(self, request: PinRequest) -> bytes:
        return self.pin

    async def verify_pin_on_reader(self, request: PinRequest) -> int | None:
        return None

    async def online_pin(self, request: PinRequest) -> bytes:
        return bytes(8)

    async def split_sales_amount(self, pan: str, currency: int) -> int:
        return 0

    async def go_online(self, request: OnlineRequest) -> OnlineResponse:
        return self.online(request)

    async def data_exchange(self, point: str, data: Mapping[int, bytes]) -> Mapping[int, bytes]:
        return {}


def terminal() -> TerminalConfig:
    def aid(hex_aid: str, version: str) -> AidConfig:
        return AidConfig(
            aid=H(hex_aid),
            application_version=H(version),
            floor_limit=10_000,
            tac_denial=H("0010000000"),
            tac_online=H("DC4004F800"),
            tac_default=H("DC4000A800"),
        )

    return TerminalConfig(
        aids=(aid("A0000000031010", "0096"), aid("A0000000041010", "0002")),
        country_code=643,
        capabilities=H("E0F8C8"),
        terminal_type=0x22,
    )


def ca_keys() -> CaKeyStore:
    return CaKeyStore.from_json(
        (resources.files("simulators.devices.pki") / "ca-keys.json").read_text(encoding="utf-8")
    )


REQUEST = TransactionRequest(amount=AMOUNT, currency=643, when=DAY)


def record(profile: str) -> tuple[list[tuple[bytes, bytes]], OnlineResponse, float, Outcome]:
    """Run once against the emulator; return the exchanges, host answer, emulator seconds."""
    card = VirtualCard(load_profile(profile))
    card.reset()
    exchanges: list[tuple[bytes, bytes]] = []
    card_cpu = 0.0
    issuers = load_issuer_keys()
    answers: list[OnlineResponse] = []

    async def transmit(capdu: bytes) -> bytes:
        nonlocal card_cpu
        start = time.process_time()
        rapdu = card.transmit(capdu)
        card_cpu += time.process_time() - start
        exchanges.append((capdu, rapdu))
        return rapdu

    def host(request: OnlineRequest) -> OnlineResponse:
        keys = issuers.card(request.pan)
        if keys is None or not keys.crypto().verify_arqc(request.pan, keys.psn, request.data):
            raise SystemExit("the recorded ARQC does not verify")
        arpc = keys.crypto().make_arpc(request.pan, keys.psn, request.data, arc=b"00")
        answer = OnlineResponse(OnlineResult.APPROVED, arc=b"00", issuer_authentication_data=arpc)
        answers.append(answer)
        return answer

    kernel = ContactKernel(terminal(), ca_keys(), entropy=Entropy())
    outcome = trio.run(kernel.run, transmit, Services(host), REQUEST)
    if outcome.decision is not Decision.APPROVED_ONLINE or outcome.tvr[0] & 0x04:
        raise SystemExit(f"recording run did not approve online with CDA: {outcome}")
    return exchanges, answers[0], card_cpu, outcome


class Replayer:
    def __init__(self, exchanges: list[tuple[bytes, bytes]]) -> None:
        self.exchanges = exchanges
        self.position = 0

    async def transmit(self, capdu: bytes) -> bytes:
        expected, rapdu = self.exchanges[self.position]
        if capdu != expected:
            raise SystemExit(f"kernel deviated from the recording at exchange {self.position}")
        self.position += 1
        return rapdu


async def timed_runs(
    kernel: ContactKernel, exchanges: list[tuple[bytes, bytes]], answer: OnlineResponse, runs: int
) -> list[float]:
    services = Services(lambda request: answer)
    times: list[float] = []
    for _ in range(runs):
        replay = Replayer(exchanges)
        start = time.process_time_ns()
        outcome = await kernel.run(replay.transmit, services, REQUEST)
        times.append((time.process_time_ns() - start) / 1e9)
        if outcome.decision is not Decision.APPROVED_ONLINE:
            raise SystemExit("replayed transaction was not approved online")
    return times


# --- split: capture RSA and outermost TLV/DOL calls, replay them alone -----------------------

_TLV_TARGETS: list[tuple[Any, str]] = [
    (tlv, "decode"),
    (tlv, "iter_raw"),
    (tlv, "encode"),
    (tlv, "decode_dol"),
    (tlv, "decode_tag_list"),
    (tlv.Tlv, "children"),
    (dol, "build_dol_data"),
]


def capture_calls(
    kernel: ContactKernel, exchanges: list[tuple[bytes, bytes]], answer: OnlineResponse
) -> tuple[list[tuple[Any, tuple[Any, ...]]], list[tuple[Callable[..., Any], tuple[Any, ...]]]]:
    rsa_calls: list[tuple[Any, tuple[Any, ...]]] = []
    tlv_calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    depth = 0
    originals: list[tuple[Any, str, Any]] = []

    def wrap_tlv(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(*args: Any) -> Any:
            nonlocal depth
            if depth == 0:
                tlv_calls.append((original, args))
            depth += 1
            try:
                result = original(*args)
                # iter_raw is a generator: materialise it inside the depth window.
                return list(result) if original.__name__ == "iter_raw" else result
            finally:
                depth -= 1

        return wrapper

    def wrap_rsa(original: Callable[..., bytes]) -> Callable[..., bytes]:
        def wrapper(*args: Any) -> bytes:
            rsa_calls.append((original, args))
            return original(*args)

        return wrapper

    for owner, name in _TLV_TARGETS:
        originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, wrap_tlv(getattr(owner, name)))
    for module in (oda_module, pin_module, rsa):
        originals.append((module, "rsa_public", module.rsa_public))
        module.rsa_public = wrap_rsa(module.rsa_public)  # type: ignore[attr-defined]
    try:
        trio.run(timed_runs, kernel, exchanges, answer, 1)
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)
    return rsa_calls, tlv_calls


def replay_seconds(
    calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], loops: int
) -> float:
    start = time.process_time_ns()
    for _ in range(loops):
        for function, args in calls:
            result = function(*args)
            if function.__name__ == "iter_raw":
                list(result)
    return (time.process_time_ns() - start) / 1e9 / loops


def main(argv: Sequence[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--runs", type=int, default=300, help="timed transactions")
    parser.add_argument(
        "--profile", default="default", help="the virtual card (cardcore sim profiles)"
    )
    args = parser.parse_args(argv)

    exchanges, answer, card_cpu, outcome = record(args.profile)
    kernel = ContactKernel(terminal(), ca_keys(), entropy=Entropy())
    trio.run(timed_runs, kernel, exchanges, answer, 20)  # warm-up
    times = trio.run(timed_runs, kernel, exchanges, answer, args.runs)
    rsa_calls, tlv_calls = capture_calls(kernel, exchanges, answer)
    loops = max(20, args.runs // 5)
    rsa_s = replay_seconds(rsa_calls, loops)
    tlv_s = replay_seconds(tlv_calls, loops)
    median = statistics.median(times)
    mean = statistics.fmean(times)
    flow = median - rsa_s - tlv_s
    bits = sorted({len(c[1][0].modulus) * 8 for c in rsa_calls})

    print(f"profile {args.profile!r}: CDA + online approval, {len(exchanges)} APDU exchanges")
    print(
        f"outcome: {outcome.decision.value}, "
        f"TVR {outcome.tvr.hex().upper()}, TSI {outcome.tsi.hex().upper()}"
    )
    print(
        f"kernel CPU per transaction ({args.runs} replayed runs): median {median * 1e3:.3f} ms, "
        f"mean {mean * 1e3:.3f} ms, min {min(times) * 1e3:.3f} ms"
    )
    print(
        f"  RSA  {rsa_s * 1e3:7.3f} ms  ({len(rsa_calls)} public-key operations, {bits} bit keys)"
    )
    print(f"  TLV  {tlv_s * 1e3:7.3f} ms  ({len(tlv_calls)} outermost BER-TLV/DOL codec calls)")
    print(
        f"  flow {flow * 1e3:7.3f} ms  (everything else: selection, steps, trio, replayer, stubs)"
    )
    print(f"emulator CPU for the same transaction (excluded above): {card_cpu * 1e3:.3f} ms")
    print(f"target < 5 ms: {'met' if median < 0.005 else 'NOT met'}")


if __name__ == "__main__":
    main()
