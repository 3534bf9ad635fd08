"""Request and response bodies of the auth routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator


class UserCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    display_name: str | None = Field(default=None, max_length=200)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("display_name")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class LoginRequest(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_in: int


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sub: str
    email: str | None
    display_name: str | None
    role: str


class EmailExists(BaseModel):
    exists: bool


class PublicConfig(BaseModel):
    """What the web UI needs before anyone signs in."""

    auth_mode: Literal["local", "cognito"]
    allow_registration: bool
    cognito_region: str | None = None
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    cognito_endpoint_url: str | None = None
    cognito_auth_flow: Literal["USER_SRP_AUTH", "USER_PASSWORD_AUTH"] | None = None
    max_upload_bytes: int
