# Strategy: the status codes of the ECR manual, Appendix A ("Коды ошибок"), as
# one table. The manual's typo "ormaterror" is read as "formaterror"
# (docs/protocol-decisions.md). Every answer carries one of these in `status`.
from __future__ import annotations

from enum import StrEnum

__all__ = ["DESCRIPTIONS", "Status"]


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
