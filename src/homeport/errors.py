"""Typed errors. Each carries its AWS error code and HTTP status, mapped once per wire format."""

from __future__ import annotations

from typing import Any, ClassVar


class ConfigurationError(Exception):
    """The server cannot start as configured (a setting names something not installed or not reachable)."""


class HomeportError(Exception):
    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 500
    # botocore parses a JSON 1.1 error's "__type"; some clients also read the query-style fault.
    sender_fault: ClassVar[bool] = False

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class ValidationError(HomeportError):
    """A request that breaks the API's rules; SageMaker's control plane calls it ValidationException."""

    code = "ValidationException"
    status = 400
    sender_fault = True


class ResourceNotFound(HomeportError):
    code = "ResourceNotFound"
    status = 400
    sender_fault = True


class ResourceInUse(HomeportError):
    code = "ResourceInUse"
    status = 400
    sender_fault = True


class ConflictException(HomeportError):
    """The resource is not in a state the operation can act on (SageMaker's inference experiments)."""

    code = "ConflictException"
    status = 400
    sender_fault = True


class ResourceLimitExceeded(HomeportError):
    code = "ResourceLimitExceeded"
    status = 400
    sender_fault = True


class UnknownOperation(HomeportError):
    code = "UnknownOperationException"
    status = 400
    sender_fault = True


class UnknownPath(UnknownOperation):
    """A request that no face of the server routes (no X-Amz-Target, no runtime or S3 path): 404."""

    status = 404


class InternalFailure(HomeportError):
    code = "InternalFailure"
    status = 500


# --- runtime API (sagemaker-runtime) -------------------------------------------------------------


class SerializationError(HomeportError):
    """A body the protocol cannot read (malformed, or nested deeper than any shape): AWS's JSON services answer
    SerializationException."""

    code = "SerializationException"
    status = 400


class RuntimeValidationError(HomeportError):
    """The runtime API spells it ValidationError, not ValidationException."""

    code = "ValidationError"
    status = 400
    sender_fault = True


class ModelError(HomeportError):
    """The model container answered with a non-2xx status."""

    code = "ModelError"
    status = 424
    sender_fault = True

    def __init__(self, message: str, original_status: int, original_message: str, log_stream: str) -> None:
        super().__init__(
            message,
            OriginalStatusCode=original_status,
            OriginalMessage=original_message,
            LogStreamArn=log_stream,
        )


class ServiceUnavailable(HomeportError):
    code = "ServiceUnavailable"
    status = 503


class ThrottlingException(HomeportError):
    """A serverless variant already runs its MaxConcurrency requests. Not in the sagemaker-runtime model: SageMaker
    sends AWS's common error, which botocore retries."""

    code = "ThrottlingException"
    status = 400
    sender_fault = True


class ModelNotReadyException(HomeportError):
    """A multi-model endpoint's model is still loading; the client retries."""

    code = "ModelNotReadyException"
    status = 429


# --- CloudWatch (metrics and alarms) --------------------------------------------------------------


class InvalidParameterValue(HomeportError):
    code = "InvalidParameterValue"
    status = 400
    sender_fault = True


class MissingParameter(HomeportError):
    code = "MissingParameter"
    status = 400
    sender_fault = True


class InvalidParameterCombination(HomeportError):
    code = "InvalidParameterCombination"
    status = 400
    sender_fault = True


class InvalidNextToken(HomeportError):
    code = "InvalidNextToken"
    status = 400
    sender_fault = True


class LimitExceeded(HomeportError):
    code = "LimitExceeded"
    status = 400
    sender_fault = True


class AlarmNotFound(HomeportError):
    code = "ResourceNotFound"
    status = 404
    sender_fault = True


# --- Application Auto Scaling ----------------------------------------------------------------------


class ObjectNotFound(HomeportError):
    code = "ObjectNotFoundException"
    status = 400
    sender_fault = True


class ScalingLimitExceeded(HomeportError):
    code = "LimitExceededException"
    status = 400
    sender_fault = True


class InvalidNextTokenException(HomeportError):
    code = "InvalidNextTokenException"
    status = 400
    sender_fault = True


# --- CloudWatch Logs ------------------------------------------------------------------------------


class InvalidParameterException(HomeportError):
    """CloudWatch Logs' name for a request that breaks its rules (and for a malformed one)."""

    code = "InvalidParameterException"
    status = 400
    sender_fault = True


class LogResourceNotFound(HomeportError):
    code = "ResourceNotFoundException"
    status = 400
    sender_fault = True


class CloudWatchResourceNotFound(HomeportError):
    """CloudWatch's tag operations name an alarm by ARN; an unknown one is this, not DeleteAlarms' ResourceNotFound."""

    code = "ResourceNotFoundException"
    status = 404
    sender_fault = True


class ResourceAlreadyExists(HomeportError):
    code = "ResourceAlreadyExistsException"
    status = 400
    sender_fault = True


# --- object store (the S3 face renders these as S3's XML errors) ---------------------------------


class ObjectStoreError(HomeportError):
    sender_fault = True
    status = 400


class NoSuchBucket(ObjectStoreError):
    code = "NoSuchBucket"
    status = 404


class NoSuchKey(ObjectStoreError):
    code = "NoSuchKey"
    status = 404


class NoSuchUpload(ObjectStoreError):
    code = "NoSuchUpload"
    status = 404


class BucketAlreadyOwnedByYou(ObjectStoreError):
    code = "BucketAlreadyOwnedByYou"
    status = 409


class BucketNotEmpty(ObjectStoreError):
    code = "BucketNotEmpty"
    status = 409


class InvalidBucketName(ObjectStoreError):
    code = "InvalidBucketName"


class KeyTooLong(ObjectStoreError):
    code = "KeyTooLongError"


class InvalidArgument(ObjectStoreError):
    code = "InvalidArgument"


class InvalidRange(ObjectStoreError):
    code = "InvalidRange"
    status = 416


class InvalidPart(ObjectStoreError):
    code = "InvalidPart"


class InvalidPartOrder(ObjectStoreError):
    code = "InvalidPartOrder"


class EntityTooSmall(ObjectStoreError):
    code = "EntityTooSmall"


class EntityTooLarge(ObjectStoreError):
    code = "EntityTooLarge"


class MalformedXML(ObjectStoreError):
    code = "MalformedXML"


class BadDigest(ObjectStoreError):
    code = "BadDigest"


class InvalidDigest(ObjectStoreError):
    code = "InvalidDigest"


class IncompleteBody(ObjectStoreError):
    code = "IncompleteBody"


class PreconditionFailed(ObjectStoreError):
    code = "PreconditionFailed"
    status = 412

    @classmethod
    def on(cls, condition: str) -> PreconditionFailed:
        """S3's refusal when the header `condition` (If-Match, If-None-Match, …) does not hold."""
        return cls("At least one of the pre-conditions you specified did not hold", Condition=condition)


class NotImplementedOperation(ObjectStoreError):
    code = "NotImplemented"
    status = 501


class MethodNotAllowed(ObjectStoreError):
    code = "MethodNotAllowed"
    status = 405
