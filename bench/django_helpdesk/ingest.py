"""django-helpdesk's side of bench/django_helpdesk_bench.py; runs inside django-helpdesk's own virtualenv.

    <helpdesk venv>/bin/python bench/django_helpdesk/ingest.py --work DIR --warmup DIR --maildir DIR

A minimal Django project configured in code (no settings file): the apps
django-helpdesk's installation docs list (teams mode off, so no pinax-teams),
SQLite in `DIR/helpdesk.db` with the gateway's storage settings (WAL,
synchronous=FULL), attachments under `DIR/media`, and Django's in-memory mail
backend, so the notification mail django-helpdesk sends to the submitter is
rendered and handed over but not put on a network. `migrate` builds the
database, then one Queue is created with `email_box_type = "local"`.

The `--warmup` folder goes through first, untimed (imports, template
compilation, the first statements). Then the queue is pointed at `--maildir`
and django-helpdesk's own `get_email` management command runs once over it,
timed as a whole; it parses every file, creates a Ticket and its FollowUp (and
attachments) in SQLite and deletes the file. One JSON line on stdout reports
the version, the wall and CPU time, the tickets created by the timed run and the files
left unprocessed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

QUEUE_ADDRESS = "support@example.org"
urlpatterns: list[Any] = []  # ROOT_URLCONF points at this module; filled in by configure()


def configure(work: Path) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-not-secret",
        ALLOWED_HOSTS=["localhost"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        SITE_ID=1,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.sites",
            "django.contrib.messages",
            "django.contrib.admin",
            "django.contrib.humanize",
            "rest_framework",
            "helpdesk",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        ROOT_URLCONF=__name__,
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(work / "helpdesk.db"),
                # the gateway's own SQLite settings, so both sides pay the same price per commit
                "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"},
            }
        },
        MEDIA_ROOT=str(work / "media"),
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DEFAULT_FROM_EMAIL=QUEUE_ADDRESS,
        HELPDESK_TEAMS_MODE_ENABLED=False,
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.urls import include, path

    urlpatterns.append(path("helpdesk/", include("helpdesk.urls")))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True, help="a fresh folder for the database and media")
    parser.add_argument("--warmup", type=Path, required=True, help="mail ingested first, untimed")
    parser.add_argument("--maildir", type=Path, required=True, help="the mail to time; its files are deleted")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # django-helpdesk warns per message on purpose; keep stdout clean
    configure(args.work)

    from importlib.metadata import version

    from django.core import mail
    from django.core.management import call_command
    from helpdesk.models import FollowUp, Queue, Ticket

    call_command("migrate", verbosity=0, interactive=False)
    queue = Queue.objects.create(
        title="Support",
        slug="support",
        email_address=QUEUE_ADDRESS,
        allow_email_submission=True,
        email_box_type="local",
        email_box_local_dir=str(args.warmup),
        email_box_interval=0,
    )
    call_command("get_email", quiet=True)
    warm_tickets, warm_followups = Ticket.objects.count(), FollowUp.objects.count()
    if warm_tickets == 0 or os.listdir(args.warmup):
        print(f"django-helpdesk did not ingest the warm-up mail ({warm_tickets} tickets)", file=sys.stderr)
        return 1
    mail.outbox = []  # the in-memory backend appends what django-helpdesk sends here

    Queue.objects.filter(pk=queue.pk).update(email_box_local_dir=str(args.maildir), email_box_last_check=None)
    files = len(os.listdir(args.maildir))
    started, cpu = time.perf_counter(), time.process_time()
    call_command("get_email", quiet=True)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu

    print(
        json.dumps(
            {
                "version": version("django-helpdesk"),
                "django": version("django"),
                "files": files,
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "tickets": Ticket.objects.count() - warm_tickets,
                "followups": FollowUp.objects.count() - warm_followups,
                "mails_sent": len(mail.outbox),
                "left_unprocessed": len(os.listdir(args.maildir)),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
