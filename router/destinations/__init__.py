"""Where deliveries go: a webhook, Zammad, osTicket, or a helpdesk mailbox over SMTP.

Each destination turns one `DeliveryJob` into one downstream call and says
how it went: `Delivered`, or a `DeliveryError` that is permanent or
retryable (with the server's Retry-After when it gave one). Destinations
never touch the database; the dispatcher records what they report.
"""
