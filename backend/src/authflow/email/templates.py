"""The text and HTML of each message. Values are escaped for HTML; subjects never take
user input, so nothing a user types can reach a header."""

from __future__ import annotations

from html import escape

from authflow.email.message import OutgoingEmail


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
