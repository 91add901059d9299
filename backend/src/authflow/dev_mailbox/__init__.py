"""The development mailbox: the email outbox, readable over HTTP so a developer can open
verification and reset links without a mail server. Mounted only when
``AUTHFLOW_ENV=development`` (see ``authflow.main.create_app``)."""
