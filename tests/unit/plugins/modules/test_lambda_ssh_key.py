# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lambda_ssh_key through its real main() against the Lambda Cloud fake."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _common
from ansible_collections.nanochat.remote_gpu.plugins.modules import lambda_ssh_key
from tests.fakes.lambda_cloud import FakeLambda, example_public_key

KEY = 'lambda-sshkey-secret-1618'
MINE = example_public_key('me@laptop')


@pytest.fixture
def fake(monkeypatch, fast_client):
    monkeypatch.setitem(_common.RATE_LIMITS, 'lambda', {})
    instance = FakeLambda(api_key=KEY, rate_limits={}).start()
    instance.other = instance.add_ssh_key('colleague', example_public_key('colleague@desk'))
    monkeypatch.setenv('LAMBDA_API_KEY', KEY)
    monkeypatch.setenv('LAMBDA_API_URL', instance.url)
    yield instance
    instance.stop()
    assert instance.internal_errors == []


@pytest.fixture
def run(run_module):
    def _run(args=None, **kwargs):
        params = dict(name='nanochat', public_key=MINE)
        params.update(args or {})
        params = dict((k, v) for k, v in params.items() if v is not None)
        result = run_module(lambda_ssh_key, params, **kwargs)
        assert KEY not in json.dumps(result)
        assert 'PRIVATE KEY' not in json.dumps(result)
        return result
    return _run


def test_add_keeps_the_other_keys_and_is_idempotent(fake, run):
    result = run(diff=True)
    assert result.changed
    assert result['ssh_key']['name'] == 'nanochat' and result['ssh_key']['public_key'] == MINE
    assert result['ssh_key']['id']
    assert result['diff'] == {'before': {'state': 'absent'}, 'after': {'state': 'present', 'name': 'nanochat', 'public_key': MINE}}
    assert sorted(k['name'] for k in fake.ssh_keys) == ['colleague', 'nanochat']
    assert sorted(k['name'] for k in result['ssh_keys']) == ['colleague', 'nanochat']
    assert [c['body'] for c in fake.calls_to('POST', '/ssh-keys$')] == [{'name': 'nanochat', 'public_key': MINE}]

    again = run(dict(public_key=MINE.rsplit(' ', 1)[0] + ' another-comment\n'))
    assert not again.changed
    assert again['ssh_key']['id'] == result['ssh_key']['id']
    assert len(fake.calls_to('POST', '/ssh-keys$')) == 1


def test_check_mode_add_sends_no_write(fake, run):
    result = run(check_mode=True, diff=True)
    assert result.changed
    assert result['ssh_key'] == {'id': None, 'name': 'nanochat', 'public_key': MINE}
    assert result['diff']['after']['state'] == 'present'
    assert fake.writes() == []


def test_same_name_different_key_fails_clearly(fake, run):
    result = run(dict(name='colleague'))
    assert result.failed
    assert 'already has an SSH key named "colleague"' in result['msg']
    assert 'cannot update' in result['msg'] and 'state=absent' in result['msg']
    assert fake.writes() == []
    assert [k['public_key'] for k in fake.ssh_keys] == [fake.other['public_key']]


def test_absent_removes_only_that_key(fake, run):
    run()
    check = run(dict(state='absent', public_key=None), check_mode=True, diff=True)
    assert check.changed and check['diff']['before']['name'] == 'nanochat'
    assert fake.calls_to('DELETE') == []
    result = run(dict(state='absent', public_key=None), diff=True)
    assert result.changed and result['ssh_key'] is None
    assert result['diff']['after'] == {'state': 'absent'}
    assert [k['name'] for k in fake.ssh_keys] == ['colleague']
    assert [k['name'] for k in result['ssh_keys']] == ['colleague']


def test_absent_on_missing_is_no_change(fake, run):
    result = run(dict(state='absent', public_key=None))
    assert not result.changed
    assert fake.writes() == []


def test_absent_when_the_key_vanished_meanwhile(fake, run):
    run()
    key_id = [k for k in fake.ssh_keys if k['name'] == 'nanochat'][0]['id']
    fake.add_fault(method='DELETE', path=key_id, status=404, mode='apply',
                   body={'error': {'code': 'global/not-found', 'message': 'The requested resource was not found.'}})
    result = run(dict(state='absent', public_key=None))
    assert not result.failed and not result.changed


def test_without_a_name_only_lists(fake, run):
    result = run(dict(name=None, public_key=None))
    assert not result.changed
    assert result['ssh_key'] is None
    assert result['ssh_keys'] == [fake.other]
    assert fake.writes() == []


@pytest.mark.parametrize('args, fragment', [
    (dict(public_key='ssh-ed25519 AAAA'), 'public_key is not usable'),
    (dict(public_key='-----BEGIN OPENSSH PRIVATE KEY----- abc'), 'private key'),
    (dict(public_key=MINE + '\n' + MINE), 'single line'),
    (dict(name='x' * 65), '1 to 64 characters'),
    (dict(public_key=None), 'public_key is required'),
    (dict(name=None, state='absent'), 'name'),
    (dict(name=None), 'public_key needs a name'),
])
def test_bad_input_fails_before_any_request(fake, run, args, fragment):
    result = run(args)
    assert result.failed
    assert fragment in result['msg']
    assert fake.calls == []


def test_add_that_failed_after_storing_is_found_again(fake, run):
    fake.add_fault(method='POST', path='/ssh-keys$', status=500, mode='apply',
                   body={'error': {'code': 'global/internal-error', 'message': 'An internal server error occurred.'}})
    result = run()
    assert result.changed and not result.failed
    assert [k['name'] for k in fake.ssh_keys].count('nanochat') == 1


def test_add_that_failed_before_storing_fails_clearly(fake, run):
    fake.add_fault(method='POST', path='/ssh-keys$', status=500, mode='respond',
                   body={'error': {'code': 'global/internal-error', 'message': 'An internal server error occurred.'}})
    result = run()
    assert result.failed
    assert 'Could not add Lambda SSH key "nanochat"' in result['msg'] and 'HTTP 500' in result['msg']
    assert [k['name'] for k in fake.ssh_keys] == ['colleague']


def test_wrong_key(fake, run, monkeypatch):
    monkeypatch.setenv('LAMBDA_API_KEY', 'nope-key')
    result = run()
    assert result.failed and 'HTTP 401' in result['msg'] and 'LAMBDA_API_KEY' in result['msg']
    assert 'nope-key' not in json.dumps(result)
