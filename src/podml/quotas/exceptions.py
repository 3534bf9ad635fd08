from podml.errors import NotFound


class AccountNotFound(NotFound):
    detail = "no account has this sub (built-in accounts: see `podml user create`)"
