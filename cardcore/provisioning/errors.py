# Strategy: the errors of provisioning, one class per Appendix A status of the
# ECR manual (docs/conventions.md, 5). Every failure of activation, a
# configuration update or a key load is one of these; the command answers it
# and the terminal keeps its previous state whole.
from __future__ import annotations

from base.errors import CardcoreError

__all__ = [
    "ProvisioningError",
    "ProvisioningFormatError",
    "ProvisioningIOError",
    "ProvisioningLinkError",
    "ProvisioningMissingData",
    "ProvisioningTimeout",
    "VerificationFailed",
]


class ProvisioningError(CardcoreError):
    """Provisioning failed."""


class VerificationFailed(ProvisioningError):
    """A signature, certificate or check value did not verify."""


class ProvisioningFormatError(ProvisioningError):
    """A document from the activator or a server is malformed."""


class ProvisioningMissingData(ProvisioningError):
    """The terminal lacks what the operation needs (not activated, no URL...)."""


class ProvisioningLinkError(ProvisioningError):
    """A management or key server could not be reached or refused the request."""


class ProvisioningTimeout(ProvisioningError):
    """The activator or a server did not answer in time."""


class ProvisioningIOError(ProvisioningError):
    """The provisioned state could not be written."""
