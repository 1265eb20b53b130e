# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The small base every provider module is built on: common options, the client, failures."""

from __future__ import annotations

import base64
import binascii
import re
import struct

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import (
    HAS_REQUESTS,
    PROVIDER_LABELS,
    REQUESTS_IMPORT_ERROR,
    ApiClient,
    ApiError,
    Pacer,
    default_pace_state_path,
)

# Public interface: the environment variables each provider's modules and the inventory read.
PROVIDERS = {
    'runpod': dict(key_env='RUNPOD_API_KEY', url_env='RUNPOD_API_URL', default_url='https://api.runpod.io'),
    'lambda': dict(key_env='LAMBDA_API_KEY', url_env='LAMBDA_API_URL', default_url='https://cloud.lambda.ai'),
    'vastai': dict(key_env='VAST_API_KEY', url_env='VAST_API_URL', default_url='https://console.vast.ai'),
}

# Rate limits, enforced on our side before the provider has to (seconds between requests per
# bucket; every request counts against "default" when there is one).
# - RunPod: per-user minute/hour/day windows, far above what one module sends; 429s are retried.
# - Lambda: one request per second, launches one per 12 s (documented).
# - Vast.ai: a minimum interval per endpoint, as the API spec's 429 examples give them: creating
#   an instance (PUT /api/v0/asks/{id}/) 4.5 s, GET /api/v0/instances/{id}/ 2.0 s, PUT 1.0 s,
#   DELETE 3.0 s, the instance list (GET /api/v1/instances/) 1.0 s, POST /api/v0/ssh/ 1.0 s.
RATE_LIMITS = {
    'runpod': {},
    'lambda': {'default': 1.0, 'launch': 12.0},
    'vastai': {'create': 4.5, 'instance_put': 1.0, 'instance_delete': 3.0, 'ssh_add': 1.0,
               'instance_get': 2.0, 'instance_list': 1.0},
}


# Extra ApiClient keyword arguments for every client made here (tests shorten the backoff).
CLIENT_OPTIONS = {}


def api_argument_spec(provider):
    """``api_key`` and ``api_url`` with their environment fallbacks."""
    settings = PROVIDERS[provider]
    return dict(
        api_key=dict(type='str', no_log=True, fallback=(env_fallback, [settings['key_env']])),
        api_url=dict(type='str', default=settings['default_url'], fallback=(env_fallback, [settings['url_env']])),
    )


def wait_argument_spec(default_timeout):
    return dict(
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=default_timeout),
        progress_file=dict(type='path'),
        progress_interval=dict(type='int', default=30),
    )


def make_client(provider, api_key, api_url, **kwargs):
    """An ApiClient with the provider's pacing; shared by modules and the inventory plugin."""
    options = dict(CLIENT_OPTIONS)
    options.update(kwargs)
    kwargs = options
    intervals = RATE_LIMITS[provider]
    pacer = None
    if intervals:
        pacer = Pacer(intervals, state_path=kwargs.pop('pace_state_path', default_pace_state_path(provider, api_url)))
    else:
        kwargs.pop('pace_state_path', None)
    return ApiClient(provider, api_url, api_key, pacer=pacer, **kwargs)


def missing_key_message(provider):
    settings = PROVIDERS[provider]
    return ('No %s API key: set the environment variable %s (or pass api_key, e.g. from Ansible Vault). '
            'Nothing was sent to the provider.' % (PROVIDER_LABELS[provider], settings['key_env']))


def auth_hint(provider):
    return ('Check the key in %s (or api_key): it was refused by %s.'
            % (PROVIDERS[provider]['key_env'], PROVIDER_LABELS[provider]))


PUBLIC_KEY_TYPES = (
    'ssh-ed25519', 'ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
    'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com',
)


def validate_public_key(text):
    """None when ``text`` is one OpenSSH public key line (type, base64 blob, optional comment),
    else a message saying what is wrong. The blob must decode and name the same key type."""
    if not isinstance(text, str) or not text.strip():
        return 'the SSH public key is empty'
    line = text.strip()
    if '\n' in line or '\r' in line:
        return 'the SSH public key must be a single line (one key; got several lines)'
    if 'PRIVATE KEY' in line:
        return 'that is a private key; pass the public key (the .pub file)'
    fields = line.split(None, 2)
    if len(fields) < 2:
        return 'an SSH public key looks like "ssh-ed25519 AAAAC3Nza... comment"; got %d field(s)' % len(fields)
    key_type, blob = fields[0], fields[1]
    if key_type not in PUBLIC_KEY_TYPES:
        return 'unknown SSH key type %r (expected one of %s)' % (key_type[:40], ', '.join(PUBLIC_KEY_TYPES))
    if not re.match(r'^[A-Za-z0-9+/]+={0,2}$', blob):
        return 'the key data is not base64'
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack('>I', raw[:4])
        embedded = raw[4:4 + length].decode('ascii')
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        return 'the key data does not decode as an SSH public key'
    if embedded != key_type:
        return 'the key data is a %r key but the line says %r' % (embedded[:40], key_type)
    return None


def same_public_key(a, b):
    """Two key lines are the same key when type and base64 match (comments may differ)."""
    fa, fb = (a or '').split(), (b or '').split()
    return len(fa) >= 2 and len(fb) >= 2 and fa[:2] == fb[:2]


class ProviderModule(object):
    """AnsibleModule plus the provider's client and a uniform way to fail on API errors."""

    def __init__(self, provider, argument_spec, **kwargs):
        self.provider = provider
        spec = dict(api_argument_spec(provider))
        spec.update(argument_spec)
        kwargs.setdefault('supports_check_mode', True)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        if not HAS_REQUESTS:
            self.module.fail_json(msg=missing_required_lib('requests'), exception=REQUESTS_IMPORT_ERROR)
        if not self.params.get('api_key'):
            self.module.fail_json(msg=missing_key_message(provider))
        self.client = make_client(provider, self.params['api_key'], self.params['api_url'])

    @property
    def check_mode(self):
        return self.module.check_mode

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, **kwargs)

    def fail_api(self, error, doing=None, hint=None, **kwargs):
        """Fail with the provider, the call, the HTTP status, the API's message and what to do next."""
        msg = str(error)
        if doing:
            msg = 'Could not %s: %s' % (doing, msg)
        if hint is None and (error.status == 401 or error.code in ('auth_error', 'invalid_token', 'global/invalid-api-key')):
            hint = auth_hint(self.provider)
        if hint:
            msg = '%s. %s' % (msg.rstrip('.'), hint)
        self.module.fail_json(msg=msg, api_error=error.to_dict(), **kwargs)

    def exit(self, changed, diff=None, **result):
        if diff is not None and self.module._diff:
            result['diff'] = diff
        self.module.exit_json(changed=changed, **result)


__all__ = ['ApiError', 'ProviderModule', 'PROVIDERS', 'RATE_LIMITS', 'api_argument_spec', 'wait_argument_spec',
           'make_client', 'missing_key_message', 'auth_hint', 'validate_public_key', 'same_public_key']
