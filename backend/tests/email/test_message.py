"""No user input can add an email header."""

from __future__ import annotations

import pytest

from authflow.email import templates
from authflow.email.message import OutgoingEmail, UnsafeHeader, to_mime


def test_line_breaks_in_any_header_value_are_refused() -> None:
    good = OutgoingEmail("a@example.com", "Hello", "text", "<p>html</p>")
    assert to_mime(good, sender="App <no-reply@example.com>")["To"] == "a@example.com"
    for bad in (
        OutgoingEmail("a@example.com\r\nBcc: victim@example.com", "s", "t", "h"),
        OutgoingEmail("a@example.com", "Hi\nBcc: victim@example.com", "t", "h"),
        OutgoingEmail("a@example.com\n", "s", "t", "h"),
    ):
        with pytest.raises(UnsafeHeader):
            to_mime(bad, sender="App <no-reply@example.com>")
    with pytest.raises(UnsafeHeader):
        to_mime(good, sender="App\r\nBcc: x@example.com <no-reply@example.com>")


def test_user_input_in_templates_is_escaped_and_kept_out_of_the_subject() -> None:
    message = templates.verify_email(
        product="Authflow",
        to_address="a@example.com",
        username="<script>alert(1)</script>\r\nBcc: x",
        link="https://app.example.com/verify-email?token=abc&x=<y>",
        valid_hours=24,
    )
    assert "<script>" not in message.html_body
    assert "&lt;script&gt;" in message.html_body
    assert "token=abc&amp;x=&lt;y&gt;" in message.html_body
    assert "\n" not in message.subject and "script" not in message.subject
    mime = to_mime(message, sender="Authflow <no-reply@example.com>")
    assert mime["Bcc"] is None


HOSTILE = "<script>alert(1)</script>\r\nBcc: x"


@pytest.mark.parametrize(
    "message",
    [
        templates.password_reset(
            product="Authflow",
            to_address="a@example.com",
            username=HOSTILE,
            link="https://app.example.com/reset-password?token=<y>",
            valid_minutes=30,
        ),
        templates.password_changed(
            product="Authflow",
            to_address="a@example.com",
            username=HOSTILE,
            when="2026-11-26 19:40 UTC",
            reset_link="https://app.example.com/forgot-password",
        ),
        templates.confirm_email_change(
            product="Authflow",
            to_address="a@example.com",
            username=HOSTILE,
            link="https://app.example.com/confirm-email-change?token=<y>",
            valid_minutes=60,
        ),
        templates.email_change_requested(
            product="Authflow",
            to_address="a@example.com",
            username=HOSTILE,
            # An address can hold HTML-special characters in quoted local parts.
            new_address='"<script>alert(2)</script>"@example.com',
            account_link="https://app.example.com/account",
        ),
    ],
    ids=["password_reset", "password_changed", "confirm_email_change", "email_change_requested"],
)
def test_every_template_escapes_user_input(message: OutgoingEmail) -> None:
    assert "<script>" not in message.html_body
    assert "&lt;script&gt;" in message.html_body
    assert "\n" not in message.subject and "script" not in message.subject
    assert message.text_body and message.html_body.startswith("<!doctype html>")
    assert to_mime(message, sender="Authflow <no-reply@example.com>")["Bcc"] is None
