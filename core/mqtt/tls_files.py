"""Check a profile's TLS files before a handshake, so a bad one is named instead of a bare OS error."""

from __future__ import annotations

import ssl
from pathlib import Path

from eventscope.core.profile import TlsSettings


def tls_files_problem(tls: TlsSettings) -> str:
    """'' when the CA file, client certificate and key can be loaded; else which file is wrong and why."""
    for label, name in (("CA file", tls.ca_file), ("client certificate", tls.cert_file), ("client key", tls.key_file)):
        if name and not Path(name).is_file():
            return f"TLS: the {label} {name} does not exist" if not Path(name).exists() else \
                f"TLS: the {label} {name} is not a file"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls.ca_file:
        try:
            context.load_verify_locations(tls.ca_file)
        except (ssl.SSLError, OSError, ValueError) as exc:
            return f"TLS: the CA file {tls.ca_file} holds no usable certificate ({getattr(exc, 'reason', None) or exc})"
    if tls.cert_file:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file or None)
        except (ssl.SSLError, OSError, ValueError) as exc:
            files = tls.cert_file + (f" with the key {tls.key_file}" if tls.key_file else "")
            return f"TLS: the client certificate {files} cannot be used ({getattr(exc, 'reason', None) or exc})"
    return ""
