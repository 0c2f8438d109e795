"""A TLS failure said so that it can be fixed: the host, what the certificate's issuer was, and
what the gateway trusted (a corporate CA missing from ca_file is the usual story: a proxy that
inspects TLS shows certificates of its own CA)."""

from __future__ import annotations

import ssl

from cryptography import x509

from seawall.providers.http1 import TLSFailed

# Only to read a certificate that did not verify, never to send anything over.
LOOK_ONLY = ssl.create_default_context()
LOOK_ONLY.check_hostname = False
LOOK_ONLY.verify_mode = ssl.CERT_NONE


def issuer_of(der: bytes | None) -> str | None:
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der).issuer.rfc4514_string()
    except ValueError:
        return None


def explain_tls(exc: TLSFailed) -> str:
    error = exc.os_error
    if isinstance(error, ssl.SSLCertVerificationError):
        seen = f"issued by {exc.issuer}" if exc.issuer else "whose issuer could not be read"
        why = error.verify_message or error.reason or str(error)
        return (f"the certificate of {exc.host or 'the upstream'} ({seen}) does not verify: {why}; "
                f"the gateway trusts {exc.trusts or 'the system CA certificates'} (network.tls.ca_file or the "
                "deployment's tls.ca_file adds a corporate CA)")
    return f"TLS with {exc.host or 'the upstream'} failed ({getattr(error, 'reason', None) or error})"
