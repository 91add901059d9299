# The real SMTP server and mail-sending apps of the email tests.
from tests.email.conftest import mail_app, smtp_server

__all__ = ["mail_app", "smtp_server"]
