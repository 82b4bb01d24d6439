"""Request authentication as the Alibaba Cloud POP gateway does it for RPC APIs.

Two signatures are checked (reference dts-api.md, section 3.3):

* ACS3-HMAC-SHA256: the ``Authorization`` header, sent by the SDK by default.
* The legacy HMAC-SHA1 ``Signature`` query parameter (SDK ``signature_algorithm='v2'``, or any
  client that builds ``?Action=...`` URLs).

STS: a temporary AccessKey pair is valid only with the security token issued for it
(``x-acs-security-token`` header or ``SecurityToken`` parameter).
"""

import base64
import hashlib
import hmac
import threading
from urllib.parse import quote, quote_plus

ACS3 = 'ACS3-HMAC-SHA256'


class AuthError(Exception):
    """A request the gateway refuses: HTTP ``status`` with ``code`` and ``message``."""

    def __init__(self, status, code, message):
        super(AuthError, self).__init__(message)
        self.status = status
        self.code = code
        self.message = message


def incomplete(what):
    return AuthError(400, 'IncompleteSignature', 'The request signature does not conform to Aliyun standards. %s' % what)


def mismatch(string_to_sign):
    return AuthError(400, 'SignatureDoesNotMatch',
                     'Specified signature is not matched with our calculation. server string to sign is:%s' % string_to_sign)


class Credentials(object):
    """AccessKey pairs and STS tokens the emulator accepts."""

    def __init__(self, accounts=None):
        self._lock = threading.Lock()
        self.accounts = dict(accounts or {})
        self.tokens = {}

    def add_account(self, access_key_id, secret):
        with self._lock:
            self.accounts[access_key_id] = secret

    def issue_token(self, access_key_id, secret, token, expired=False):
        with self._lock:
            self.tokens[token] = {'access_key_id': access_key_id, 'secret': secret, 'expired': bool(expired)}

    def secret_for(self, access_key_id, token):
        with self._lock:
            if token:
                entry = self.tokens.get(token)
                if entry is None:
                    raise AuthError(400, 'InvalidSecurityToken.Malformed', 'Specified SecurityToken is malformed.')
                if entry['access_key_id'] != access_key_id:
                    raise AuthError(400, 'InvalidSecurityToken.MismatchWithAccessKey', 'Specified SecurityToken mismatch with the AccessKey.')
                if entry['expired']:
                    raise AuthError(403, 'InvalidSecurityToken.Expired', 'Specified SecurityToken is expired.')
                return entry['secret']
            secret = self.accounts.get(access_key_id)
            if secret is None:
                raise AuthError(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.')
            return secret


def acs3_string_to_sign(method, path, query, headers, signed_headers, body):
    """The ACS3 string to sign. ``query``: decoded (key, value) pairs of the URL query;
    ``headers``: a callable returning the list of values of a header (any case)."""
    canonical_query = '&'.join('%s=%s' % (quote(key, safe='~'), quote(value, safe='~')) for key, value in sorted(query))
    canonical_headers = ''.join('%s:%s\n' % (name, ','.join(sorted(value.strip() for value in headers(name)))) for name in signed_headers)
    canonical_request = '\n'.join([method, path or '/', canonical_query, canonical_headers, ';'.join(signed_headers),
                                   hashlib.sha256(body).hexdigest()])
    return '%s\n%s' % (ACS3, hashlib.sha256(canonical_request.encode('utf-8')).hexdigest())


def v1_string_to_sign(method, params):
    """The legacy RPC string to sign over every parameter (query and form body) but Signature."""
    canonical = '&'.join('%s=%s' % (quote(key, safe='~'), quote(value, safe='~'))
                         for key, value in sorted(params.items()) if key != 'Signature')
    return '%s&%%2F&%s' % (method, quote_plus(canonical, safe='~'))


def authenticate(credentials, method, path, query, params, headers, header_names, body):
    """Check the request's signature; return ``('acs3' | 'v1', access_key_id)`` or raise AuthError.

    ``query``: decoded URL query pairs; ``params``: query and form body merged; ``headers``: a
    callable name -> list of values; ``header_names``: lower-case names of the headers sent.
    """
    authorization = (headers('authorization') or [''])[0].strip()
    if authorization:
        scheme, dummy, rest = authorization.partition(' ')
        if scheme != ACS3:
            raise incomplete('Unsupported authorization scheme %r: use %s.' % (scheme, ACS3))
        fields = {}
        for part in rest.split(','):
            key, dummy, value = part.strip().partition('=')
            fields[key] = value
        missing = [key for key in ('Credential', 'SignedHeaders', 'Signature') if not fields.get(key)]
        if missing:
            raise incomplete('The Authorization header lacks %s.' % ', '.join(missing))
        access_key_id = fields['Credential']
        signed_headers = fields['SignedHeaders'].split(';')
        unsigned = sorted(name for name in header_names if (name.startswith('x-acs-') or name == 'host') and name not in signed_headers)
        if unsigned:
            raise incomplete('Headers that must be signed are not: %s.' % ', '.join(unsigned))
        absent = [name for name in signed_headers if not headers(name)]
        if absent:
            raise incomplete('Signed headers are missing from the request: %s.' % ', '.join(absent))
        token = (headers('x-acs-security-token') or [None])[0]
        secret = credentials.secret_for(access_key_id, token)
        string_to_sign = acs3_string_to_sign(method, path, query, headers, signed_headers, body)
        expected = hmac.new(secret.encode('utf-8'), string_to_sign.encode('utf-8'), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields['Signature']):
            raise mismatch(string_to_sign)
        return 'acs3', access_key_id

    if 'Signature' in params:
        access_key_id = params.get('AccessKeyId')
        if not access_key_id:
            raise incomplete('The AccessKeyId parameter is missing.')
        if params.get('SignatureMethod', 'HMAC-SHA1') != 'HMAC-SHA1' or params.get('SignatureVersion', '1.0') != '1.0':
            raise incomplete('Use SignatureMethod=HMAC-SHA1 and SignatureVersion=1.0.')
        secret = credentials.secret_for(access_key_id, params.get('SecurityToken'))
        string_to_sign = v1_string_to_sign(method, params)
        expected = base64.b64encode(hmac.new((secret + '&').encode('utf-8'), string_to_sign.encode('utf-8'), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(expected, params['Signature']):
            raise mismatch(string_to_sign)
        return 'v1', access_key_id

    raise incomplete('The request is not signed: send an ACS3-HMAC-SHA256 Authorization header or a Signature parameter.')
