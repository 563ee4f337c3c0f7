# Strategy: the administrator of the ECR manual («Ограничение доступа»,
# «Настройки») as docs/protocol-decisions.md fixes it:
# - an 8-digit password, default 12345678, kept only as a salted scrypt hash
#   (RFC 7914) in the data dir, so it survives restarts. While it is the
#   factory default there is no file: that password is the manual's, public,
#   with no secret to hash (the start-up knows without hashing that it is
#   in use);
# - tokens of 16 random bytes as 32 upper-case hex characters, valid until
#   logout (the manual: the client uses the token «до выхода из режима
#   настройки»), an optional idle timeout, or eviction: at most `max_tokens`
#   are kept, and a login beyond them ends the least recently used one;
# - tokens survive restarts: `tokens.json` in the data dir holds their
#   SHA-256 hashes, never the tokens. A token is 128 random bits, so its
#   hash needs no salt nor a slow function; a presented token is hashed and
#   looked up, so the lookup's timing depends on the hash, which tells
#   nothing about a token that would match;
# - after `lockout_after` failures in a row, every attempt is refused with
#   `notauthorized` without looking at the password for a lock-out that
#   doubles from `lockout_initial` up to `lockout_max` seconds;
# - comparisons of secrets are constant-time (hmac.compare_digest);
# - a password file that cannot be read stops the start-up: guessing would
#   either lock the administrator out or fall back to the public default. A
#   token file that cannot be read only ends the logins it held.
# scrypt is slow on purpose, so it runs in a worker thread.
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from cardcore.config import AdminConfig
from cardcore.errors import DataFileError, NotAuthorized
from cardcore.protocol.xmlcodec import Message, XmlError
from cardcore.storage import atomic_remove, atomic_write

__all__ = ["DEFAULT_PASSWORD", "AdminAuth", "token_id"]

log = logging.getLogger(__name__)

DEFAULT_PASSWORD = "12345678"  # noqa: S105 - the manual's factory default
_R, _P, _DKLEN = 8, 1, 32


@dataclass(frozen=True)
class _Hash:
    n: int
    salt: bytes
    digest: bytes

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "scheme": "scrypt",
                "n": self.n,
                "r": _R,
                "p": _P,
                "salt": self.salt.hex(),
                "hash": self.digest.hex(),
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> _Hash:
        """The stored hash; ValueError saying what is wrong with ``raw``."""
        if not raw.strip():
            raise ValueError("it is empty")
        try:
            data = json.loads(raw)
        except ValueError:
            raise ValueError("it is not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        if data.get("scheme") != "scrypt" or data.get("r") != _R or data.get("p") != _P:
            raise ValueError("unsupported password hash scheme")
        n, salt, digest = data.get("n"), data.get("salt"), data.get("hash")
        if not isinstance(n, int) or n < 2 or n & (n - 1):
            raise ValueError("the scrypt cost is not a power of two")
        if not isinstance(salt, str) or not isinstance(digest, str):
            raise ValueError("the salt or the hash is missing")
        try:
            hashed = cls(n, bytes.fromhex(salt), bytes.fromhex(digest))
        except ValueError:
            raise ValueError("the salt or the hash is not hex") from None
        if not hashed.salt or len(hashed.digest) != _DKLEN:
            raise ValueError("the salt or the hash has the wrong length")
        return hashed


def _scrypt(password: str, salt: bytes, n: int) -> bytes:
    # The memory scrypt needs for this cost, as OpenSSL counts it (128·r·(n+2)
    # for V, 128·r·p for B): a fixed limit would refuse the larger allowed costs.
    maxmem = 128 * _R * (n + 2 + _P)
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=_R, p=_P, dklen=_DKLEN, maxmem=maxmem
    )


def _make_hash(password: str, n: int) -> _Hash:
    salt = secrets.token_bytes(16)
    return _Hash(n, salt, _scrypt(password, salt, n))


_SHA256_HEX = re.compile("[0-9a-f]{64}")


def token_id(token: str) -> str:
    """What the terminal keeps of a token: the hex SHA-256 of its upper-case
    form (the secure-channel key of a login is filed under it too)."""
    return hashlib.sha256(token.upper().encode("utf-8", "surrogatepass")).hexdigest()


def _read_token_ids(raw: bytes) -> list[str]:
    """The token ids of a token file, least recently used first; ValueError
    saying what is wrong."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError("it is not JSON") from None
    ids = data.get("sha256") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not all(
        isinstance(i, str) and _SHA256_HEX.fullmatch(i) for i in ids
    ):
        raise ValueError("it is not a list of SHA-256 hashes")
    return ids


class AdminAuth:
    def __init__(
        self,
        path: Path,
        config: AdminConfig,
        clock: Callable[[], float] = trio.current_time,
        tokens_path: Path | None = None,
    ) -> None:
        self._path = path
        self._tokens_path = tokens_path or path.with_name("tokens.json")
        self._config = config
        self._clock = clock
        self._hash: _Hash | None = None  # None: the factory default (nothing stored)
        self._loaded = False
        # token id -> last use, least recently used first
        self._tokens: OrderedDict[str, float] = OrderedDict()
        self._next_expiry = math.inf  # no token can expire before it (see _expire)
        self._failures = 0
        self._locked_until = 0.0
        self._lock = trio.Lock()
        self.on_revoke: Callable[[str], None] = lambda token: None

    async def load(self) -> None:
        """Read the stored hash; none stored: the factory default."""
        if self._clock is trio.current_time:
            # The run's clock itself, read directly: tokens are checked on
            # every command.
            self._clock = trio.lowlevel.current_clock().current_time
        try:
            self._hash = _Hash.from_json(self._path.read_bytes())
        except FileNotFoundError:
            self._hash = None
            log.info("administrator password is the factory default")
        except OSError as exc:
            raise DataFileError(
                f"cannot read the administrator password file {self._path}: {exc.strerror}"
            ) from None
        except ValueError as exc:
            raise DataFileError(
                f"the administrator password file {self._path} is damaged ({exc}): restore it"
                " from a backup, or delete it to go back to the factory password"
                f" {DEFAULT_PASSWORD}, which anyone who reaches the ECR port may use until"
                " it is changed"
            ) from None
        self._load_tokens()
        self._loaded = True

    def _load_tokens(self) -> None:
        """The tokens of the last run; their idle time counts from now."""
        try:
            ids = _read_token_ids(self._tokens_path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            log.warning(
                "token file %s cannot be read (%s): every token is ended, log in again",
                self._tokens_path, why,
            )  # fmt: skip
            self._save_tokens()
            return
        now = self._clock()
        for tid in ids[-self._config.max_tokens :]:
            self._tokens[tid] = now
        if self._config.token_idle_timeout:
            self._next_expiry = now + self._config.token_idle_timeout
        log.info("%d administrator token(s) kept from the last run", len(self._tokens))

    def _save_tokens(self) -> None:
        if not self._tokens:
            atomic_remove(self._tokens_path)
            return
        atomic_write(self._tokens_path, json.dumps({"sha256": list(self._tokens)}).encode())

    @property
    def factory_password(self) -> bool:
        """Whether the password is still the public factory default."""
        return self._hash is None

    async def _store(self, password: str) -> None:
        if password == DEFAULT_PASSWORD:
            atomic_remove(self._path)
            self._hash = None
            return
        new = await trio.to_thread.run_sync(_make_hash, password, self._config.scrypt_n)
        atomic_write(self._path, new.to_json())
        self._hash = new

    # --- password -------------------------------------------------------
    def locked_for(self) -> float:
        return max(0.0, self._locked_until - self._clock())

    async def check_password(self, password: str) -> None:
        """Raise NotAuthorized unless ``password`` is the admin password."""
        async with self._lock:
            if self.locked_for() > 0:
                raise NotAuthorized(
                    f"too many failed attempts; locked for {self.locked_for():.0f} s"
                )
            assert self._loaded, "load() first"
            stored = self._hash
            if stored is None:  # the factory default, public: nothing to hash
                right = hmac.compare_digest(password.encode(), DEFAULT_PASSWORD.encode())
            else:
                candidate = await trio.to_thread.run_sync(_scrypt, password, stored.salt, stored.n)
                right = hmac.compare_digest(candidate, stored.digest)
            if right:
                self._failures = 0
                return
            self._failures += 1
            cfg = self._config
            if self._failures >= cfg.lockout_after:
                doublings = self._failures - cfg.lockout_after
                delay = min(cfg.lockout_max, cfg.lockout_initial * 2 ** min(doublings, 32))
                self._locked_until = self._clock() + delay
                log.warning(
                    "administrator locked out for %.0f s after %d failures", delay, self._failures
                )
            raise NotAuthorized("wrong password")

    async def change_password(self, current: str, new: str) -> None:
        await self.check_password(current)
        await self._store(new)
        log.info("administrator password changed")

    async def reset_password(self) -> None:
        await self._store(DEFAULT_PASSWORD)
        self._failures = 0
        self._locked_until = 0.0
        self.revoke_all()
        log.warning("administrator password reset to the factory default")

    # --- tokens ---------------------------------------------------------
    def issue_token(self) -> str:
        """A new token; over `max_tokens`, the least recently used one ends."""
        self._expire()
        token = secrets.token_hex(16).upper()
        now = self._tokens[token_id(token)] = self._clock()
        evicted = []
        while len(self._tokens) > self._config.max_tokens:
            tid, _ = self._tokens.popitem(last=False)
            evicted.append(tid)
        if self._config.token_idle_timeout:
            self._next_expiry = min(self._next_expiry, now + self._config.token_idle_timeout)
        self._save_tokens()
        for tid in evicted:
            log.info("the least recently used administrator token ended: %d are kept",
                     self._config.max_tokens)  # fmt: skip
            self.on_revoke(tid)
        return token

    def _expire(self) -> float:
        """End the tokens idle too long (when an idle timeout is set); returns
        the time now. The tokens are kept least recently used first
        (check_token moves a used one to the end), so only the expired ones
        and one more are looked at, and only once the first one's time is up:
        a lower bound of every token's (using a token only moves its own
        later)."""
        now = self._clock()
        if now < self._next_expiry:
            return now
        timeout = self._config.token_idle_timeout
        self._next_expiry = math.inf
        if not timeout:
            return now
        limit = now - timeout
        expired = []
        while self._tokens:
            tid, used = next(iter(self._tokens.items()))
            if used >= limit:
                self._next_expiry = used + timeout
                break
            del self._tokens[tid]
            expired.append(tid)
        if expired:
            self._save_tokens()
            for tid in expired:
                self.on_revoke(tid)
        return now

    def check_token(self, token: str | None) -> str:
        """The token's id if the token is valid (and it counts as used now);
        else NotAuthorized. None: the command came without one."""
        if token is None:
            raise NotAuthorized("this command needs the administrator's token: log in first")
        now = self._expire()
        tid = token_id(token)
        if tid not in self._tokens:
            raise NotAuthorized("invalid or expired token")
        self._tokens[tid] = now
        self._tokens.move_to_end(tid)  # the most recently used goes last
        return tid

    def authorize(self, message: Message) -> str:
        """check_token() for a command's `token`, before any other parameter
        is looked at: a caller without a valid token learns nothing about
        the rest of its command."""
        try:
            token = message.params().get("token")
        except XmlError:
            token = None
        return self.check_token(token if isinstance(token, str) else None)

    def revoke(self, tid: str) -> None:
        """End the token of id ``tid`` (check_token's answer)."""
        if self._tokens.pop(tid, None) is not None:
            self._save_tokens()
            self.on_revoke(tid)

    def revoke_all(self) -> None:
        ended = list(self._tokens)
        self._tokens.clear()
        self._save_tokens()
        for tid in ended:
            self.on_revoke(tid)
