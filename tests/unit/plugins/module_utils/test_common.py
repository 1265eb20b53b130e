# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared module helpers: public key validation, key comparison, client construction."""

from __future__ import annotations

import subprocess

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _api, _common


@pytest.fixture(scope='module')
def real_keys(tmp_path_factory):
    keys = {}
    for kind in ('ed25519', 'rsa', 'ecdsa'):
        path = tmp_path_factory.mktemp(kind) / 'id'
        subprocess.check_call(['ssh-keygen', '-q', '-t', kind, '-N', '', '-C', 'me@laptop', '-f', str(path)])
        keys[kind] = (path.with_suffix('.pub').read_text().strip(), path.read_text())
    return keys


def test_real_public_keys_are_accepted(real_keys):
    for public, _private in real_keys.values():
        assert _common.validate_public_key(public) is None
        assert _common.validate_public_key(public + '\n') is None


@pytest.mark.parametrize('text, fragment', [
    ('', 'empty'),
    ('ssh-ed25519', 'field'),
    ('ssh-foo AAAA', 'unknown SSH key type'),
    ('ssh-ed25519 not*base64', 'not base64'),
    ('ssh-ed25519 AAAA', 'does not decode'),
])
def test_malformed_public_keys_are_refused(text, fragment):
    assert fragment in _common.validate_public_key(text)


def test_private_key_and_mismatched_type_are_refused(real_keys):
    public, private = real_keys['ed25519']
    assert 'private key' in _common.validate_public_key(private.strip().splitlines()[0] + ' x')
    assert 'single line' in _common.validate_public_key(public + '\n' + public)
    blob = real_keys['rsa'][0].split()[1]
    assert "'ssh-rsa' key" in _common.validate_public_key('ssh-ed25519 ' + blob)


def test_same_public_key_ignores_comments(real_keys):
    public = real_keys['ed25519'][0]
    relabelled = ' '.join(public.split()[:2] + ['other@host'])
    assert _common.same_public_key(public, relabelled)
    assert not _common.same_public_key(public, real_keys['rsa'][0])
    assert not _common.same_public_key(public, '')


def test_make_client_paces_lambda_and_vast_with_a_margin(tmp_path):
    lam = _common.make_client('lambda', 'k', 'http://127.0.0.1:9', pace_state_path=str(tmp_path / 'p'))
    margin = _api.Pacer.DEFAULT_MARGIN
    assert lam.pacer.intervals == {'default': 1.0 + margin, 'launch': 12.0 + margin}
    vast = _common.make_client('vastai', 'k', 'http://127.0.0.1:9', pace_state_path=str(tmp_path / 'v'))
    assert 'default' not in vast.pacer.intervals and vast.pacer.intervals['create'] == 4.5 + margin
    assert _common.make_client('runpod', 'k', 'http://127.0.0.1:9').pacer is None


def test_missing_key_message_names_the_env_var():
    assert 'VAST_API_KEY' in _common.missing_key_message('vastai')
    assert 'Nothing was sent' in _common.missing_key_message('vastai')
