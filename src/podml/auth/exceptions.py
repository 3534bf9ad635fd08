"""Auth errors, each mapped to its HTTP status by `podml.errors`."""

from podml.errors import Conflict, DomainError, Forbidden, Unauthorized


class NotAuthenticated(Unauthorized):
    detail = "not authenticated"


class InvalidCredentials(Unauthorized):
    detail = "incorrect email or password"


class EmailAlreadyRegistered(Conflict):
    detail = "an account with this email already exists"


class LocalAccountsDisabled(DomainError):
    status_code = 400
    detail = "this server signs users in with Cognito; register and log in through Cognito"


class RegistrationClosed(DomainError):
    status_code = 403
    detail = "registration is closed on this server; ask an administrator for an account"


class AdminRequired(Forbidden):
    detail = "administrators only: this route needs the admin role, which your account does not have"
