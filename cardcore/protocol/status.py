# Strategy: the status codes of the ECR manual, Appendix A ("Коды ошибок"), as
# one table. The manual's typo "ormaterror" is read as "formaterror"
# (docs/protocol-decisions.md). Every answer carries one of these in `status`.
from __future__ import annotations

from enum import StrEnum

__all__ = ["DESCRIPTIONS", "ERROR_STATUS", "Status", "status_of"]


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    COMMUNICATION_ERROR = "communicationerror"
    NOT_IMPLEMENTED = "notimplemented"
    FORMAT_ERROR = "formaterror"
    NOT_AUTHORIZED = "notauthorized"
    FILE_IO_ERROR = "fileioerror"
    VERIFICATION_FAILED = "verificationfailed"
    MISSING_DATA = "missingdata"
    SYSTEM_ERROR = "systemerror"
    TIMEOUT = "timeout"
    INVALID_ARGUMENTS = "invalidarguments"
    TRANSACTION_NOT_FOUND = "transactionnotfound"
    NOT_REVERSIBLE = "notreversible"
    ALREADY_REVERSED = "alreadyreversed"
    NOT_APPROVED = "notapproved"
    EMV_ERROR = "emverror"
    NOT_DETECTED = "notdetected"
    NOT_ALLOWED_INTERFACE = "notallowedinterface"
    CANCELLED = "cancelled"
    TRY_AGAIN = "tryagain"
    USE_CHIP = "usechip"
    BATCH_UPLOAD_FAILED = "batchuploadfailed"
    READER_DISABLED = "readerdisabled"
    PREPROCESSING_FAILED = "preprocessingfailed"
    READER_NOT_AVAILABLE = "readernotavailable"
    READER_ERROR = "readererror"
    TRY_ANOTHER_INTERFACE = "tryanotherinterface"
    PINPAD_MALFUNCTION = "pinpadmalfunctionornotpresent"
    PIN_ENTRY_BYPASSED = "pinentrybypassed"


# Appendix A wording, for logs and for the client's readable output.
DESCRIPTIONS: dict[Status, str] = {
    Status.OK: "operation completed successfully",
    Status.FAILED: "operation failed",
    Status.COMMUNICATION_ERROR: "communication error, including failure to connect",
    Status.NOT_IMPLEMENTED: "the requested function is not implemented",
    Status.FORMAT_ERROR: "data format error",
    Status.NOT_AUTHORIZED: "invalid login or password",
    Status.FILE_IO_ERROR: "file access error",
    Status.VERIFICATION_FAILED: "checksum or certificate verification failed",
    Status.MISSING_DATA: "data needed for the operation is missing",
    Status.SYSTEM_ERROR: "system error",
    Status.TIMEOUT: "the operation timed out",
    Status.INVALID_ARGUMENTS: "invalid parameter values",
    Status.TRANSACTION_NOT_FOUND: "the transaction to void is not in the journal",
    Status.NOT_REVERSIBLE: "the transaction cannot be voided",
    Status.ALREADY_REVERSED: "the transaction is already voided",
    Status.NOT_APPROVED: "the transaction to void was not approved",
    Status.EMV_ERROR: "EMV kernel error, including initialisation",
    Status.NOT_DETECTED: "card detection error",
    Status.NOT_ALLOWED_INTERFACE: "this interface is not allowed for the operation",
    Status.CANCELLED: "operation cancelled",
    Status.TRY_AGAIN: "card read error; try again",
    Status.USE_CHIP: "a contact EMV transaction is required",
    Status.BATCH_UPLOAD_FAILED: "transaction log upload failed",
    Status.READER_DISABLED: "card reader disabled",
    Status.PREPROCESSING_FAILED: "EMV pre-processing failed",
    Status.READER_NOT_AVAILABLE: "card reader not available",
    Status.READER_ERROR: "card reader error",
    Status.TRY_ANOTHER_INTERFACE: "card read error; use another interface",
    Status.PINPAD_MALFUNCTION: "PIN entry error",
    Status.PIN_ENTRY_BYPASSED: "PIN entry bypassed by the cardholder",
}


# Strategy (errors): every package raises errors in its own terms, rooted in
# base.errors.CardcoreError; the ECR status a cash register reads for one is
# decided here, once, for every layer. The EMV kernel, the hardware layer and
# the acquirers know nothing of the manual's status words. An error class
# not named here answers as the nearest ancestor that is (its method
# resolution order), so a subclass that means the same needs no line. Keys
# are dotted class names, so this table imports none of the classes it names
# (the protocol layer stays below all of them); a test checks that every key
# names a class and every class reaches a key.
ERROR_STATUS: dict[str, Status] = {
    # the shared foundation
    "base.crypto.emv.CryptogramError": Status.EMV_ERROR,
    "base.crypto.tr31.KeyBlockError": Status.VERIFICATION_FAILED,
    "base.errors.CardcoreError": Status.SYSTEM_ERROR,
    # the EMV kernel: how a transaction ended early (EMV Books 1-4, contactless Books A-D)
    "kernel.errors.CaKeyError": Status.VERIFICATION_FAILED,
    "kernel.errors.CardBlocked": Status.TRY_ANOTHER_INTERFACE,
    "kernel.errors.CardNotDetected": Status.NOT_DETECTED,
    "kernel.errors.CardTryAgain": Status.TRY_AGAIN,
    "kernel.errors.InvalidTransactionRequest": Status.INVALID_ARGUMENTS,
    "kernel.errors.KernelError": Status.EMV_ERROR,
    "kernel.errors.NoMutualApplication": Status.TRY_ANOTHER_INTERFACE,
    "kernel.errors.OdaError": Status.VERIFICATION_FAILED,
    "kernel.errors.PinEntryBypassed": Status.PIN_ENTRY_BYPASSED,
    "kernel.errors.PinPadError": Status.PINPAD_MALFUNCTION,
    "kernel.errors.TransactionCancelled": Status.CANCELLED,
    "kernel.errors.TryAnotherInterface": Status.TRY_ANOTHER_INTERFACE,
    "kernel.errors.UseChip": Status.USE_CHIP,
    # card readers, the SAM and the PIN pad
    "hal.interfaces.CardCollision": Status.TRY_AGAIN,
    "base.errors.CardRemoved": Status.TRY_AGAIN,
    "hal.interfaces.ReaderError": Status.READER_ERROR,
    "hal.interfaces.ReaderNotAvailable": Status.READER_NOT_AVAILABLE,
    "hal.pcsc_part10.Part10Error": Status.READER_ERROR,
    "hal.sam.SamAuthenticationError": Status.VERIFICATION_FAILED,
    "simulators.devices.mifare.MifareCardError": Status.READER_ERROR,
    "simulators.devices.pki.PkiError": Status.INVALID_ARGUMENTS,
    "simulators.devices.profile.ProfileError": Status.INVALID_ARGUMENTS,
    "hal.usbhid.protocol.ReportError": Status.PINPAD_MALFUNCTION,
    # the acquirer host, the SBP agent, HTTP links
    "acquirers.errors.AcquirerError": Status.FAILED,
    "acquirers.errors.CommunicationError": Status.COMMUNICATION_ERROR,
    "acquirers.errors.HostTimeoutError": Status.TIMEOUT,
    "acquirers.errors.Iso8583Error": Status.FORMAT_ERROR,
    "acquirers.errors.KeyCheckError": Status.VERIFICATION_FAILED,
    "acquirers.errors.MacVerificationError": Status.VERIFICATION_FAILED,
    "acquirers.errors.MessageBuildError": Status.INVALID_ARGUMENTS,
    "acquirers.http.errors.HttpLinkError": Status.COMMUNICATION_ERROR,
    "acquirers.http.errors.HttpLinkTimeout": Status.TIMEOUT,
    "acquirers.http.message.HTTPException": Status.FAILED,
    "acquirers.sbp.errors.QrFormatError": Status.FORMAT_ERROR,
    "acquirers.sbp.errors.SbpCommunicationError": Status.COMMUNICATION_ERROR,
    "acquirers.sbp.errors.SbpConfigError": Status.INVALID_ARGUMENTS,
    "acquirers.sbp.errors.SbpError": Status.FAILED,
    "acquirers.sbp.errors.SbpInvalidArgument": Status.INVALID_ARGUMENTS,
    "acquirers.sbp.errors.SbpNotFoundError": Status.TRANSACTION_NOT_FOUND,
    "acquirers.sbp.errors.SbpTimeoutError": Status.TIMEOUT,
    # the terminal's own errors
    "cardcore.client.ClientError": Status.COMMUNICATION_ERROR,
    "cardcore.configcheck.ConfigError": Status.INVALID_ARGUMENTS,
    "cardcore.endofday.service.ForceNotAllowed": Status.INVALID_ARGUMENTS,
    "cardcore.endofday.service.HostRefused": Status.FAILED,
    "cardcore.endofday.service.SettlementUnfinished": Status.FAILED,
    "cardcore.engine.detection.NoDetection": Status.NOT_DETECTED,
    "cardcore.engine.flow.InterfaceNotAllowed": Status.NOT_ALLOWED_INTERFACE,
    "cardcore.engine.flow.NotApproved": Status.NOT_APPROVED,
    "cardcore.engine.flow.NotDetected": Status.NOT_DETECTED,
    "cardcore.engine.flow.PreprocessingFailed": Status.PREPROCESSING_FAILED,
    "cardcore.engine.flow.ReaderDisabled": Status.READER_DISABLED,
    "cardcore.engine.flow.TransactionNotFound": Status.TRANSACTION_NOT_FOUND,
    "cardcore.errors.Busy": Status.FAILED,
    "cardcore.errors.ClientAnswerError": Status.FORMAT_ERROR,
    "cardcore.errors.ClientTimeout": Status.TIMEOUT,
    "cardcore.errors.DataFileError": Status.FILE_IO_ERROR,
    "cardcore.errors.NotAuthorized": Status.NOT_AUTHORIZED,
    "cardcore.errors.NotImplementedCommand": Status.NOT_IMPLEMENTED,
    "cardcore.errors.OperationCancelled": Status.CANCELLED,
    "cardcore.hostlink.HostNotConfigured": Status.COMMUNICATION_ERROR,
    "cardcore.hostlink.NoMasterKeys": Status.MISSING_DATA,
    "cardcore.journal.records.JournalError": Status.FILE_IO_ERROR,
    "cardcore.keystore.KeyStoreError": Status.FILE_IO_ERROR,
    "cardcore.ledger.claims.AlreadyReversed": Status.ALREADY_REVERSED,
    "cardcore.ledger.claims.NotReversible": Status.NOT_REVERSIBLE,
    "cardcore.protocol.framing.FramingError": Status.FORMAT_ERROR,
    "cardcore.protocol.messages.InvalidArguments": Status.INVALID_ARGUMENTS,
    "cardcore.protocol.secure.SecureChannelError": Status.VERIFICATION_FAILED,
    "base.xmlread.XmlError": Status.FORMAT_ERROR,
    "cardcore.provisioning.errors.ProvisioningError": Status.FAILED,
    "cardcore.provisioning.errors.ProvisioningFormatError": Status.FORMAT_ERROR,
    "cardcore.provisioning.errors.ProvisioningIOError": Status.FILE_IO_ERROR,
    "cardcore.provisioning.errors.ProvisioningLinkError": Status.COMMUNICATION_ERROR,
    "cardcore.provisioning.errors.ProvisioningMissingData": Status.MISSING_DATA,
    "cardcore.provisioning.errors.ProvisioningTimeout": Status.TIMEOUT,
    "cardcore.provisioning.errors.VerificationFailed": Status.VERIFICATION_FAILED,
    "simulators.control.ControlError": Status.FAILED,
}


def status_of(error: BaseException) -> Status:
    """The Appendix A status an answer carries for ``error``."""
    for cls in type(error).__mro__:
        found = ERROR_STATUS.get(f"{cls.__module__}.{cls.__qualname__}")
        if found is not None:
            return found
    return Status.SYSTEM_ERROR
