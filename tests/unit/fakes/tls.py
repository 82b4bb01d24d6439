"""Throwaway certificates and a TLS listener, to check what the real drivers do with our TLS settings."""

import datetime
import os
import socket
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, key, issuer, issuer_key, ca=False, dns=(), client=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    if not ca:
        usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, *blobs):
    with open(path, 'wb') as handle:
        for blob in blobs:
            handle.write(blob)
    os.chmod(path, 0o600)
    return path


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class Certificates(object):
    """A CA, a server certificate for ``localhost`` only (so 127.0.0.1 fails a host name check),
    a client certificate with its key in a separate file, and a second CA that signed nothing
    of ours. Paths are attributes; everything lives in ``directory``."""

    def __init__(self, directory):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate('dtsops test CA', ca_key, 'dtsops test CA', ca_key, ca=True)
        other_key = ec.generate_private_key(ec.SECP256R1())
        other = _certificate('someone else', other_key, 'someone else', other_key, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server = _certificate('localhost', server_key, 'dtsops test CA', ca_key, dns=['localhost'])
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = _certificate('switchover_admin', client_key, 'dtsops test CA', ca_key, client=True)
        self.ca = _write(os.path.join(directory, 'ca.pem'), _pem_cert(ca))
        self.other_ca = _write(os.path.join(directory, 'other-ca.pem'), _pem_cert(other))
        self.server_cert = _write(os.path.join(directory, 'server.pem'), _pem_cert(server))
        self.server_key = _write(os.path.join(directory, 'server.key'), _pem_key(server_key))
        self.client_cert = _write(os.path.join(directory, 'client.pem'), _pem_cert(client))
        self.client_key = _write(os.path.join(directory, 'client.key'), _pem_key(client_key))

    def server_context(self, require_client_cert=False):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        return context


class TLSListener(object):
    """Accepts TLS connections on 127.0.0.1 (a free port), completes the handshake, notes the
    client certificate's subject, reads the first ``read_bytes`` the client sends and hangs up.
    Enough to see whether a driver's TLS settings work, before any database protocol."""

    def __init__(self, context, read_bytes=64):
        self.context = context
        self.read_bytes = read_bytes
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.handshakes = []
        self.failures = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        # shutdown() wakes the accept() of the serving thread; close() alone does not.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(5)
        return False

    def _serve(self):
        while True:
            try:
                raw, dummy = self.sock.accept()
            except OSError:
                return
            raw.settimeout(5)
            try:
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    peer = tls.getpeercert()
                    subject = dict(item[0] for item in peer['subject']) if peer else {}
                    received = b''
                    while len(received) < self.read_bytes:
                        chunk = tls.recv(self.read_bytes - len(received))
                        if not chunk:
                            break
                        received += chunk
                    self.handshakes.append({'client_cn': subject.get('commonName'), 'first_bytes': received})
            except (ssl.SSLError, OSError) as exc:
                self.failures.append(str(exc))
                raw.close()
