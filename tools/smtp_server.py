"""A real SMTP server for the email hook tests (aiosmtpd, from PyPI).

Usage: smtp_server.py PORT FOLDER [--auth] [--login-only] [--starttls CERT KEY] [--tls CERT KEY]
Writes each accepted message as FOLDER/<n>.eml. Recipients starting with "reject" get 550,
with "later" 451. --auth requires AUTH (PLAIN or LOGIN; --login-only offers LOGIN alone) as
escalated/secret; --starttls requires STARTTLS, --tls speaks TLS from the first byte.
Prints "ready" once listening; stops on SIGTERM.
"""
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 no such user"
        if address.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.folder, "%d-%d.eml" % (os.getpid(), self.count))
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 accepted as %d" % self.count


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"escalated" and auth_data.password == b"secret"
    return AuthResult(success=ok)


def main():
    port, folder, options = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    os.makedirs(folder, exist_ok=True)
    kwargs = {}

    def context(i):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(options[i + 1], options[i + 2])
        return ctx

    if "--starttls" in options:
        kwargs.update(tls_context=context(options.index("--starttls")), require_starttls=True)
    if "--tls" in options:
        kwargs.update(ssl_context=context(options.index("--tls")))
    if "--auth" in options:
        kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=False)
        if "--login-only" in options:
            kwargs.update(auth_exclude_mechanism=["PLAIN"])
    controller = Controller(Handler(folder), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print("ready", flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    controller.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])
    main()
