# Strategy: the application's errors, one class per wire status of the ECR
# manual's Appendix A (docs/conventions.md, 5). The root, CardcoreError, lives
# in kernel.errors so that every package can raise into one hierarchy.
from __future__ import annotations

from base.errors import CardcoreError
from cardcore.protocol.framing import FramingError
from cardcore.protocol.messages import InvalidArguments
from cardcore.protocol.secure import SecureChannelError
from cardcore.protocol.xmlcodec import XmlError

__all__ = [
    "Busy",
    "CardcoreError",
    "ClientAnswerError",
    "ClientTimeout",
    "DataFileError",
    "FramingError",
    "InvalidArguments",
    "ListenError",
    "NotAuthorized",
    "NotImplementedCommand",
    "OperationCancelled",
    "SecureChannelError",
    "StartupError",
    "SystemFailure",
    "XmlError",
]


class NotAuthorized(CardcoreError):
    """Invalid login, password or token."""


class NotImplementedCommand(CardcoreError):
    """The requested function is not implemented."""


class Busy(CardcoreError):
    """An exclusive command arrived while another holds the devices."""


class OperationCancelled(CardcoreError):
    """Operation cancelled."""


class ClientTimeout(CardcoreError):
    """The cash register did not answer a message in time."""


class ClientAnswerError(CardcoreError):
    """The cash register answered a message with the wrong packet."""


class SystemFailure(CardcoreError):
    """Internal error."""


class StartupError(CardcoreError):
    """The terminal cannot start."""


class ListenError(StartupError):
    """A listener cannot be opened on its address."""


class DataFileError(StartupError):
    """A file in the data dir cannot be used."""
