"""Certificates for TLS tests: a private CA, a server certificate for 127.0.0.1/localhost, a client
certificate, and a second CA that signed nothing (to provoke verification failures)."""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import ipaddress


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path, data, owner=None, mode=0o644):
    with open(path, 'wb') as stream:
        stream.write(data)
    os.chmod(path, mode)
    if owner:
        os.chown(path, *owner)


def _ca(common_name, now):
    key = _key()
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(common_name, ca_key, ca_cert, now, sans=None, server=True):
    key = _key()
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH if server
                                                     else x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def make_tls_files(directory, owner=None, client_user='client'):
    """Write ca.pem, server.pem/server.key (SAN 127.0.0.1 and localhost), client.pem/client.key
    (CN ``client_user``) and other-ca.pem into ``directory``. Keys are 0600 and, with ``owner``
    (uid, gid), owned by the server's user (PostgreSQL refuses keys others can read)."""
    os.makedirs(directory, exist_ok=True)
    if owner:
        os.chown(directory, *owner)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, ca_cert = _ca('localdb test CA', now)
    dummy, other_ca = _ca('localdb unrelated CA', now)
    server_key, server_cert = _leaf('localhost', ca_key, ca_cert, now,
                                    sans=[x509.DNSName('localhost'), x509.IPAddress(ipaddress.ip_address('127.0.0.1'))])
    client_key, client_cert = _leaf(client_user, ca_key, ca_cert, now, server=False)
    files = {
        'ca': os.path.join(directory, 'ca.pem'),
        'other_ca': os.path.join(directory, 'other-ca.pem'),
        'server_cert': os.path.join(directory, 'server.pem'),
        'server_key': os.path.join(directory, 'server.key'),
        'client_cert': os.path.join(directory, 'client.pem'),
        'client_key': os.path.join(directory, 'client.key'),
    }
    _write(files['ca'], _pem_cert(ca_cert), owner)
    _write(files['other_ca'], _pem_cert(other_ca), owner)
    _write(files['server_cert'], _pem_cert(server_cert), owner)
    _write(files['server_key'], _pem_key(server_key), owner, mode=0o600)
    _write(files['client_cert'], _pem_cert(client_cert), owner)
    _write(files['client_key'], _pem_key(client_key), owner, mode=0o600)
    return files
