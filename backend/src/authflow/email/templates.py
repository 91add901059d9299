"""The text and HTML of each message. Values are escaped for HTML; subjects never take
user input, so nothing a user types can reach a header."""

from __future__ import annotations

from datetime import datetime
from html import escape

from authflow.email.message import OutgoingEmail


def when(moment: datetime) -> str:
    """A moment as messages show it."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _html(
    title: str, paragraphs: list[str], action: tuple[str, str] | None, footer: str = ""
) -> str:
    """``paragraphs`` and ``footer`` are HTML already escaped by the caller."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    if action is not None:
        label, url = action
        body += (
            f'<p><a href="{escape(url)}" style="display:inline-block;padding:10px 16px;'
            f'background:#4f46e5;color:#ffffff;border-radius:6px;text-decoration:none">'
            f"{escape(label)}</a></p>"
            f'<p style="color:#64748b;font-size:13px">Or open this link: {escape(url)}</p>'
        )
    return (
        '<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#0f172a">'
        f'<h1 style="font-size:20px">{escape(title)}</h1>{body}'
        f'<p style="color:#64748b">{footer}</p></body></html>'
    )


def password_reset(
    *, product: str, to_address: str, username: str, link: str, valid_minutes: int
) -> OutgoingEmail:
    subject = f"Reset your {product} password"
    text = (
        f"Hello {username},\n\n"
        f"Someone asked to reset the password of your {product} account. To choose a new "
        f"password, open the link below. It is valid for {valid_minutes} minutes and works "
        f"once.\n\n{link}\n\n"
        "Setting a new password signs you out everywhere. If you did not ask for this, "
        "ignore this message: your password stays as it is.\n"
    )
    html = _html(
        subject,
        [
            f"Hello {escape(username)},",
            f"Someone asked to reset the password of your {escape(product)} account. The link "
            f"is valid for {valid_minutes} minutes and works once.",
            "Setting a new password signs you out everywhere.",
        ],
        ("Choose a new password", link),
        "If you did not ask for this, ignore this message: your password stays as it is.",
    )
    return OutgoingEmail(to_address=to_address, subject=subject, text_body=text, html_body=html)


def password_changed(
    *, product: str, to_address: str, username: str, when: str, reset_link: str
) -> OutgoingEmail:
    subject = f"Your {product} password was changed"
    text = (
        f"Hello {username},\n\n"
        f"The password of your {product} account was changed on {when}.\n\n"
        "If this was you, there is nothing to do. If it was not, reset your password now "
        f"and review your sessions:\n\n{reset_link}\n"
    )
    html = _html(
        subject,
        [
            f"Hello {escape(username)},",
            f"The password of your {escape(product)} account was changed on {escape(when)}.",
            "If this was you, there is nothing to do. If it was not, reset your password now.",
        ],
        ("Reset password", reset_link),
    )
    return OutgoingEmail(to_address=to_address, subject=subject, text_body=text, html_body=html)


def confirm_email_change(
    *, product: str, to_address: str, username: str, link: str, valid_minutes: int
) -> OutgoingEmail:
    subject = f"Confirm your new email address for {product}"
    text = (
        f"Hello {username},\n\n"
        f"You asked to use this address for your {product} account. Confirm it by opening "
        f"the link below. It is valid for {valid_minutes} minutes and works once.\n\n{link}\n\n"
        "Until you do, your account keeps its current address. If you did not ask for "
        "this, ignore this message.\n"
    )
    html = _html(
        subject,
        [
            f"Hello {escape(username)},",
            f"You asked to use this address for your {escape(product)} account. The link is "
            f"valid for {valid_minutes} minutes and works once.",
            "Until you confirm, your account keeps its current address.",
        ],
        ("Confirm new address", link),
        "If you did not ask for this, ignore this message.",
    )
    return OutgoingEmail(to_address=to_address, subject=subject, text_body=text, html_body=html)


def email_change_requested(
    *, product: str, to_address: str, username: str, new_address: str, account_link: str
) -> OutgoingEmail:
    subject = f"A change of email address was requested for {product}"
    text = (
        f"Hello {username},\n\n"
        f"Someone signed in to your {product} account asked to change its email address "
        f"to {new_address}. The change happens only when the link sent to that address is "
        "opened.\n\n"
        "If this was you, there is nothing to do. If it was not, change your password and "
        f"sign out your other sessions now:\n\n{account_link}\n"
    )
    html = _html(
        subject,
        [
            f"Hello {escape(username)},",
            f"Someone signed in to your {escape(product)} account asked to change its email "
            f"address to <strong>{escape(new_address)}</strong>. The change happens only "
            "when the link sent to that address is opened.",
            "If this was you, there is nothing to do. If it was not, change your password "
            "and sign out your other sessions now.",
        ],
        ("Review your account", account_link),
    )
    return OutgoingEmail(to_address=to_address, subject=subject, text_body=text, html_body=html)


def signup_attempt(
    *, product: str, to_address: str, username: str, login_link: str, reset_link: str
) -> OutgoingEmail:
    subject = f"Someone tried to sign up for {product} with your address"
    text = (
        f"Hello {username},\n\n"
        f"Someone just tried to create a new {product} account with this email address. It "
        f"already belongs to your account, so no new account was made.\n\n"
        f"If it was you, sign in instead:\n\n{login_link}\n\n"
        f"Forgot your password? Choose a new one here:\n\n{reset_link}\n\n"
        "If it was not you, there is nothing to do.\n"
    )
    html = _html(
        subject,
        [
            f"Hello {escape(username)},",
            f"Someone just tried to create a new {escape(product)} account with this email "
            "address. It already belongs to your account, so no new account was made.",
            f'Forgot your password? <a href="{escape(reset_link)}">Choose a new one</a>.',
        ],
        ("Sign in", login_link),
        "If it was not you, there is nothing to do.",
    )
    return OutgoingEmail(to_address=to_address, subject=subject, text_body=text, html_body=html)


def verify_email(
    *, product: str, to_address: str, username: str, link: str, valid_hours: int
) -> OutgoingEmail:
    subject = f"Confirm your email address for {product}"
    text = (
        f"Hello {username},\n\n"
        f"Confirm that this is your email address by opening the link below. It is valid for "
        f"{valid_hours} hours and works once.\n\n{link}\n\n"
        f"If you did not create a {product} account, ignore this message.\n"
    )
    html = _html(
        subject,
        [
            f"Hello {escape(username)},",
            f"Confirm that this is your email address. The link is valid for {valid_hours} "
            "hours and works once.",
        ],
        ("Confirm email address", link),
        f"If you did not create a {escape(product)} account, ignore this message.",
    )
    return OutgoingEmail(to_address=to_address, subject=subject, text_body=text, html_body=html)


def new_sign_in(
    *,
    product: str,
    to_address: str,
    username: str,
    browser: str,
    device: str,
    ip: str,
    when: str,
    sessions_link: str,
) -> OutgoingEmail:
    """``browser`` and ``device`` come from the User-Agent, which the client chooses: pass
    only the short summary (kit/user_agent.describe), never the raw header."""
    subject = f"New sign-in to your {product} account"
    text = (
        f"Hello {username},\n\n"
        f"Your {product} account was signed in to from a browser or device it had not been "
        "used from before:\n\n"
        f"  Browser:    {browser}\n"
        f"  Device:     {device}\n"
        f"  IP address: {ip}\n"
        f"  Time:       {when}\n\n"
        "If this was you, there is nothing to do. If it wasn't, change your password and "
        f"sign out your other sessions now:\n\n{sessions_link}\n"
    )
    html = _html(
        subject,
        [
            f"Hello {escape(username)},",
            f"Your {escape(product)} account was signed in to from a browser or device it had "
            "not been used from before:",
            f"Browser: <strong>{escape(browser)}</strong><br>"
            f"Device: <strong>{escape(device)}</strong><br>"
            f"IP address: <strong>{escape(ip)}</strong><br>"
            f"Time: <strong>{escape(when)}</strong>",
            "If this was you, there is nothing to do. If it wasn't, change your password and "
            "sign out your other sessions now.",
        ],
        ("Review where you're signed in", sessions_link),
    )
    return OutgoingEmail(to_address=to_address, subject=subject, text_body=text, html_body=html)


def two_factor_changed(
    *, product: str, to_address: str, username: str, when: str, enabled: bool, link: str
) -> OutgoingEmail:
    state = "turned on" if enabled else "turned off"
    subject = f"Two-factor authentication was {state} for your {product} account"
    advice = (
        "Signing in now needs a code from your authenticator app or a recovery code."
        if enabled
        else "Signing in now needs only your password."
    )
    text = (
        f"Hello {username},\n\n"
        f"Two-factor authentication was {state} for your {product} account on {when}. "
        f"{advice}\n\n"
        "If this was you, there is nothing to do. If it was not, reset your password now "
        f"and review your account:\n\n{link}\n"
    )
    html = _html(
        subject,
        [
            f"Hello {escape(username)},",
            f"Two-factor authentication was {state} for your {escape(product)} account on "
            f"{escape(when)}. {advice}",
            "If this was you, there is nothing to do. If it was not, reset your password now "
            "and review your account.",
        ],
        ("Review your account", link),
    )
    return OutgoingEmail(to_address=to_address, subject=subject, text_body=text, html_body=html)
