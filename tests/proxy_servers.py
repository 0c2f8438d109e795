"""Real proxies for the tests, from Debian's packages: squid (HTTP, CONNECT, basic auth) and dante
(SOCKS5), each started on a free loopback port with a config written to a temp directory, and
stopped after. In CI (CI set) a missing binary fails the test; elsewhere it is skipped, naming the
Debian package to install."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

USER, PASSWORD = "alice", "s3cret pass"  # a space: credentials must be URL-quoted in the proxy URL
# Dante checks SOCKS5 usernames against the system's accounts: the tests make this one (as root).
SOCKS_USER = "seawall-socks"


def require(binary: str, package: str) -> str:
    path = shutil.which(binary) or next((p for p in (f"/usr/sbin/{binary}",) if os.path.exists(p)), None)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{binary} is not installed; .ci/run installs Debian's {package}")
    pytest.skip(f"{binary} is not installed (Debian package {package})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningProxy:
    port: int
    folder: str
    log: str

    def url(self, scheme: str = "http", user: str | None = None, password: str | None = None) -> str:
        from urllib.parse import quote
        auth = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    def output(self) -> str:
        with contextlib.suppress(OSError), open(self.log, errors="replace") as f:
            return f.read()
        return ""


def _folder(name: str) -> str:
    # squid drops root for its own user: the files it reads and writes must be open to it
    folder = tempfile.mkdtemp(prefix=f"seawall-{name}-")
    os.chmod(folder, 0o777)
    return folder


def _wait_listening(proc: subprocess.Popen, port: int, what: str, log: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{open(log, errors='replace').read()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not listening after {timeout} s:\n{open(log, errors='replace').read()}")


def _stop(proc: subprocess.Popen, folder: str) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def squid():
    """Squid requiring basic auth (USER, PASSWORD), CONNECT allowed to any port, no cache."""
    binary = require("squid", "squid")
    folder, port = _folder("squid"), free_port()
    hashed = subprocess.run(["openssl", "passwd", "-apr1", PASSWORD], capture_output=True, text=True,
                            check=True).stdout.strip()
    with open(f"{folder}/passwd", "w") as f:
        f.write(f"{USER}:{hashed}\n")
    log = f"{folder}/cache.log"
    with open(f"{folder}/squid.conf", "w") as f:
        f.write(f"""http_port 127.0.0.1:{port}
pid_filename {folder}/squid.pid
cache_log {folder}/cache.log
access_log stdio:{folder}/access.log
cache_store_log none
coredump_dir {folder}
cache deny all
cache_mem 4 MB
visible_hostname seawall-test
shutdown_lifetime 0 seconds
auth_param basic program /usr/lib/squid/basic_ncsa_auth {folder}/passwd
auth_param basic realm seawall-test
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
""")
    for name in os.listdir(folder):
        os.chmod(f"{folder}/{name}", 0o666)
    proc = subprocess.Popen([binary, "-N", "-f", f"{folder}/squid.conf"], stdout=open(f"{folder}/out.log", "w"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_listening(proc, port, "squid", f"{folder}/out.log")
        yield RunningProxy(port, folder, log)
    finally:
        _stop(proc, folder)


def _sbin(tool: str) -> str:
    """A system tool by name, found in /usr/sbin when PATH (a non-login shell's) leaves it out."""
    return shutil.which(tool) or f"/usr/sbin/{tool}"


def socks_account() -> None:
    """The system account dante's username method checks (SOCKS_USER, PASSWORD): made, or its
    password set, here. Only root can; in CI a missing account fails the test."""
    import pwd
    if os.geteuid() != 0:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(SOCKS_USER)
            return  # made by someone before: its password is assumed to be PASSWORD
        if os.environ.get("CI"):
            pytest.fail(f"the SOCKS5 username test needs root, or a system account {SOCKS_USER} with the "
                        f"password {PASSWORD!r}")
        # outside CI only (CI runs as root, and fails above when it can't): a developer's own account
        pytest.skip(f"making the system account {SOCKS_USER} needs root (or make it with the password "
                    f"{PASSWORD!r})")
    try:
        pwd.getpwnam(SOCKS_USER)
    except KeyError:
        subprocess.run([_sbin("useradd"), "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SOCKS_USER],
                       check=True, capture_output=True)
    subprocess.run([_sbin("chpasswd")], input=f"{SOCKS_USER}:{PASSWORD}\n", text=True, check=True, capture_output=True)


@contextlib.contextmanager
def dante(with_password: bool = False):
    """Dante's SOCKS5 server connecting anywhere from loopback: no authentication, or SOCKS5's
    username/password (RFC 1929) checked against the system account SOCKS_USER."""
    binary = require("danted", "dante-server")
    if with_password:
        socks_account()
    folder, port = _folder("dante"), free_port()
    log = f"{folder}/danted.log"
    method = "username" if with_password else "none"
    # reading /etc/shadow takes root; the rest of the time it runs as nobody
    users = "user.privileged: root\nuser.unprivileged: nobody\n" if with_password else ""
    with open(f"{folder}/danted.conf", "w") as f:
        f.write(f"""logoutput: {log}
internal: 127.0.0.1 port = {port}
external: 127.0.0.1
clientmethod: none
socksmethod: {method}
{users}client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}
socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }}
""")
    proc = subprocess.Popen([binary, "-f", f"{folder}/danted.conf", "-p", f"{folder}/danted.pid", "-N", "1"],
                            stdout=open(f"{folder}/out.log", "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_listening(proc, port, "danted", f"{folder}/out.log")
        yield RunningProxy(port, folder, log)
    finally:
        _stop(proc, folder)
