"""How a case's messages reach the customer: rendering, channels, and the sent-message ledger.

- `rendering.render(request)`: subject, text, HTML and SMS for one `SendRequest` (templates/).
- `base`: the `MessageChannel` protocol, `PermanentDeliveryError` / `TransientDeliveryError`.
- `outbox.OutboxChannel`: the embedded default, writing .eml / .sms.json / .pdf files.
- `letters`: A4 PDF letters (DL window envelope, large print) and the `PostRoomChannel`.
- `sendgrid_email.SendGridEmailChannel`, `twilio_sms.TwilioSmsChannel`: the vendors.
- `settings.ChannelSettings` + `registry.build_channels(settings)`: which channel serves each kind.
- `sent_log.SentLog`: the idempotency ledger the `send_message` activity consults.

Workflows never import this package (vendor SDKs and I/O live here); they call the activity by
name. Nothing here reads the environment at import time.
"""
