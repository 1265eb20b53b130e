# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vastai_ssh_key through its real main() against the fake Vast.ai API."""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.modules import vastai_ssh_key
from tests.fakes.base import Fault
from tests.fakes.vastai import FakeVast

KEY = 'vast-test-key-ssh-0123456789'


def public_key(seed, comment='me@laptop'):
    blob = struct.pack('>I', 11) + b'ssh-ed25519' + struct.pack('>I', 32) + hashlib.sha256(seed.encode()).digest()
    return 'ssh-ed25519 %s %s' % (base64.b64encode(blob).decode(), comment)


@pytest.fixture
def fake(fast_client):
    server = FakeVast(api_key=KEY, rate_limits={}).start()
    yield server
    server.stop()
    assert server.internal_errors == []


@pytest.fixture
def run(run_module, fake):
    def _run(check_mode=False, diff=False, **kwargs):
        args = dict(api_key=KEY, api_url=fake.url)
        args.update(kwargs)
        return run_module(vastai_ssh_key, args, check_mode=check_mode, diff=diff)
    return _run


def test_add_keeps_the_other_keys_and_is_idempotent(run, fake):
    other = public_key('other')
    fake.add_account_key(other)
    mine = public_key('mine')
    result = run(public_key=mine, diff=True)
    assert result.changed and not result.failed
    assert result['ssh_key']['public_key'] == mine and result['ssh_key']['id']
    assert [k['public_key'] for k in result['ssh_keys']] == [other, mine]
    assert result['diff'] == {'before': {'keys': [other]}, 'after': {'keys': [other, mine]}}
    assert fake.calls_to('POST', r'^/api/v0/ssh/$')[0]['body'] == {'ssh_key': mine}
    # Same key with another comment: nothing to do.
    again = run(public_key=mine.rsplit(' ', 1)[0] + ' laptop-2')
    assert not again.changed and again['ssh_key']['id'] == result['ssh_key']['id']
    assert len(fake.calls_to('POST', r'^/api/v0/ssh/$')) == 1
    assert [k['key'] for k in fake.ssh_keys] == [other, mine]


def test_list_only(run, fake):
    fake.add_account_key(public_key('a'))
    result = run()
    assert not result.changed and result['ssh_key'] is None and len(result['ssh_keys']) == 1
    assert fake.writes() == []


def test_check_mode_add_sends_nothing(run, fake):
    result = run(public_key=public_key('x'), check_mode=True)
    assert result.changed and result['ssh_key']['id'] is None
    assert fake.writes() == [] and fake.ssh_keys == []


def test_added_key_reaches_current_instances(run, fake):
    import requests
    created = requests.put(fake.url + '/api/v0/asks/2001/', json={'client_id': 'me', 'image': 'img', 'label': 'a'},
                           headers={'Authorization': 'Bearer ' + KEY}).json()['new_contract']
    key = public_key('late')
    run(public_key=key)
    assert key in fake.instances[created]['_keys']


def test_absent_by_key_and_by_id(run, fake):
    keep = public_key('keep')
    fake.add_account_key(keep)
    doomed = fake.add_account_key(public_key('doomed'))
    duplicate = fake.add_account_key(public_key('doomed', 'second copy'))
    check = run(public_key=public_key('doomed'), state='absent', check_mode=True)
    assert check.changed and fake.writes() == []
    result = run(public_key=public_key('doomed'), state='absent')
    assert result.changed and result['ssh_key']['id'] == doomed['id']
    assert [k['public_key'] for k in result['ssh_keys']] == [keep]
    assert sorted(c['path'] for c in fake.calls_to('DELETE')) == sorted(
        ['/api/v0/ssh/%d/' % doomed['id'], '/api/v0/ssh/%d/' % duplicate['id']])
    assert not run(public_key=public_key('doomed'), state='absent').changed
    by_id = run(id=fake.ssh_keys[0]['id'], state='absent')
    assert by_id.changed and fake.ssh_keys == []
    assert not run(id=12345, state='absent').changed


def test_key_deleted_meanwhile_is_not_an_error(run, fake):
    fake.add_account_key(public_key('racy'))
    fake.add_fault(Fault(method='DELETE', path=r'^/api/v0/ssh/', status=400,
                         body={'success': False, 'error': 'no_ssh_key', 'msg': 'No ssh key provided'}))
    result = run(public_key=public_key('racy'), state='absent')
    assert not result.failed and result.changed


@pytest.mark.parametrize('options, text', [
    (dict(public_key='not a key'), 'public_key'),
    (dict(public_key='ssh-ed25519 AAAA'), 'public_key'),
    (dict(state='absent'), 'state is absent but any of the following are missing'),
    (dict(id=5), 'use it with state=absent'),
])
def test_bad_input_fails_before_any_request(run, fake, options, text):
    result = run(**options)
    assert result.failed and text in result['msg'], result['msg']
    assert fake.calls == []


def test_wrong_key_and_api_errors(run, fake):
    result = run(api_key='bad', public_key=public_key('x'))
    assert result.failed and 'Invalid user key' in result['msg'] and 'VAST_API_KEY' in result['msg']
    assert 'bad' not in json.dumps(result.get('invocation', {}))
    fake.add_fault(Fault(method='POST', path=r'^/api/v0/ssh/', status=400,
                         body={'success': False, 'error': 'invalid_args', 'msg': 'Invalid ssh key'}))
    failed = run(public_key=public_key('x'))
    assert failed.failed and 'add the SSH key' in failed['msg'] and 'Invalid ssh key' in failed['msg']
    assert 'HTTP 400' in failed['msg']


def test_list_with_429_retried(run, fake):
    fake.add_fault(Fault(method='GET', path=r'^/api/v0/ssh/', status=429, body='API requests too frequent',
                         content_type='text/plain'))
    result = run()
    assert not result.failed
    assert [c['status'] for c in fake.calls_to('GET', r'^/api/v0/ssh/')] == [429, 200]
