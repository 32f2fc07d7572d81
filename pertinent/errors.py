"""The exceptions pertinent raises to its clients, spelled as AWS spells them.

Every error a client can see is a :class:`PersonalizeError`. The API layer encodes it exactly as
Amazon Personalize does (``__type`` in the JSON 1.1 control plane, ``x-amzn-ErrorType`` in the REST-JSON
runtime and events services), so boto3 raises ``client.exceptions.<Code>``::

    PersonalizeError
    ├── InvalidInputException            400  a field or combination of fields is not valid
    ├── ResourceNotFoundException        404  no resource with that ARN / tracking id
    ├── ResourceAlreadyExistsException   400  a resource with that name exists
    ├── ResourceInUseException           409  a dependent resource or a running job prevents it
    ├── LimitExceededException           400  a quota (e.g. 5 import jobs in progress)
    ├── InvalidNextTokenException        400  a pagination token we did not issue
    ├── TooManyTagsException             400  over 50 tags on a resource
    ├── TooManyTagKeysException          400  over 50 tag keys in one UntagResource
    ├── UnknownOperationException        400  an X-Amz-Target we do not know
    └── NotImplementedException          400  a Personalize operation pertinent does not serve yet

Internal bugs are ordinary Python exceptions and become HTTP 500 ``InternalFailure``.
"""

from __future__ import annotations


class PersonalizeError(Exception):
    """Base of every error sent to a client; ``code`` is the AWS error code."""

    code = "PersonalizeError"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputException(PersonalizeError):
    code = "InvalidInputException"


class ResourceNotFoundException(PersonalizeError):
    code = "ResourceNotFoundException"
    http_status = 404


class ResourceAlreadyExistsException(PersonalizeError):
    code = "ResourceAlreadyExistsException"


class ResourceInUseException(PersonalizeError):
    code = "ResourceInUseException"
    http_status = 409


class LimitExceededException(PersonalizeError):
    code = "LimitExceededException"


class InvalidNextTokenException(PersonalizeError):
    code = "InvalidNextTokenException"


class TooManyTagsException(PersonalizeError):
    code = "TooManyTagsException"


class TooManyTagKeysException(PersonalizeError):
    code = "TooManyTagKeysException"


class UnknownOperationException(PersonalizeError):
    code = "UnknownOperationException"


class NotImplementedOperation(PersonalizeError):
    """A real Personalize operation this version of pertinent does not serve yet."""

    code = "NotImplementedException"


class ImportFailure(Exception):
    """A dataset import job cannot finish; ``str(exc)`` becomes the job's ``failureReason``."""


class TrainingFailure(Exception):
    """A solution version cannot be trained; ``str(exc)`` becomes the version's ``failureReason``."""
