"""A real Dovecot IMAP server for the tests, configured in a temp dir on 127.0.0.1.

The recipe is the one verified in shared/research/real-components.md: Debian's
`dovecot-imapd` run in the foreground as root from its own config, users in a
passwd-file, maildir storage owned by `nobody`. Stopped with SIGTERM to the
master's PID (it stops its children), waiting for the PID to exit.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.postgres import free_port

DOVECOT = "/usr/sbin/dovecot"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
mailbox_idle_check_interval = 1 secs
{ssl}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
namespace inbox {{
  inbox = yes
  mailbox Archive {{
    auto = create
    special_use = \\Archive
  }}
}}
"""


class DovecotServer:
    """One Dovecot; `start()` and `stop()` may be called again (same ports, same mail)."""

    def __init__(self, *, tls_cert: Path | None = None, tls_key: Path | None = None, extra_config: str = "") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gw-dovecot-"))
        self.port = free_port()
        self.tls_port = free_port() if tls_cert else 0
        self._tls = (tls_cert, tls_key) if tls_cert and tls_key else None
        self._users: dict[str, str] = {}
        self._extra = extra_config
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> str | None:
        if os.geteuid() != 0:
            return "Dovecot is started as root in these tests"
        if not Path(DOVECOT).exists():
            return "dovecot-imapd is not installed (apt-get install dovecot-imapd)"
        return None

    def add_user(self, user: str, password: str) -> None:
        """Add users before `start()`: Dovecot re-reads a changed passwd-file at most once a second."""
        self._users[user] = password
        text = "".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self._users.items())
        (self.dir / "passwd").write_text(text)

    def start(self) -> None:
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir(exist_ok=True)
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir / "mail", "nobody", "nogroup")
        if not (self.dir / "passwd").exists():
            (self.dir / "passwd").write_text("")
        ssl = "ssl = no"
        if self._tls:
            ssl = f"ssl = yes\nssl_cert = <{self._tls[0]}\nssl_key = <{self._tls[1]}"
        (self.dir / "dovecot.conf").write_text(
            CONFIG.format(dir=self.dir, port=self.port, tls_port=self.tls_port, ssl=ssl) + self._extra
        )
        log = open(self.dir / "dovecot.out", "ab")  # noqa: SIM115 - handed to the child
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.dir / "dovecot.conf")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not start:\n" + self.logs())

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # Its own process group: the master and every child it forked (the
        # imap processes outlive a master stopped alone by about 10 s).
        group = process.pid
        os.killpg(group, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            process.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.killpg(group, signal.SIGKILL)

    def logs(self) -> str:
        parts = []
        for name in ("dovecot.log", "dovecot.out"):
            path = self.dir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

