# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""runpod_ssh_key through its real main() against the strict RunPod fake."""

from __future__ import annotations

import base64
import json
import os
import struct

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.modules import runpod_ssh_key
from tests.fakes.base import Fault
from tests.fakes.runpod import FakeRunPod

API_KEY = 'rp_sshkey_key_never_printed_22ab'


def make_key(comment='me@laptop'):
    blob = struct.pack('>I', 11) + b'ssh-ed25519' + struct.pack('>I', 32) + os.urandom(32)
    return 'ssh-ed25519 %s %s' % (base64.b64encode(blob).decode(), comment)


MINE, OTHER, THIRD = make_key('me@laptop'), make_key('colleague'), make_key('ci')


@pytest.fixture
def fake(fast_client):
    server = FakeRunPod(api_key=API_KEY, ssh_keys=[OTHER, THIRD],
                        rate_limits={'minute': 10 ** 6, 'hour': 10 ** 6, 'day': 10 ** 6}).start()
    yield server
    server.stop()
    assert server.internal_errors == []


@pytest.fixture
def run(run_module, fake):
    def _run(check_mode=False, diff=False, **args):
        params = dict(api_key=API_KEY, api_url=fake.url, public_key=MINE)
        params.update(args)
        result = run_module(runpod_ssh_key, params, check_mode=check_mode, diff=diff)
        assert API_KEY not in json.dumps(result)
        return result
    return _run


def test_add_keeps_the_other_keys_and_is_idempotent(run, fake):
    result = run()
    assert result.changed and result['ssh_key'] == MINE
    assert fake.ssh_keys == [OTHER, THIRD, MINE] and result['ssh_keys'] == [OTHER, THIRD, MINE]
    assert fake.calls_to('PUT')[0]['body'] == {'keys': [OTHER, THIRD, MINE]}
    again = run()
    assert not again.changed and len(fake.writes()) == 1


def test_same_key_with_another_comment_is_not_added_twice(run, fake):
    run()
    relabelled = MINE.rsplit(' ', 1)[0] + ' renamed@laptop'
    result = run(public_key=relabelled)
    assert not result.changed and result['ssh_key'] == MINE and fake.ssh_keys == [OTHER, THIRD, MINE]


def test_absent_removes_only_that_key(run, fake):
    fake.ssh_keys = [OTHER, MINE, THIRD, MINE.rsplit(' ', 1)[0] + ' copy']
    result = run(state='absent')
    assert result.changed and result['ssh_key'] is None
    assert fake.ssh_keys == [OTHER, THIRD]
    assert not run(state='absent').changed and len(fake.writes()) == 1


def test_check_mode_and_diff(run, fake):
    result = run(check_mode=True, diff=True)
    assert result.changed and fake.writes() == []
    assert result['ssh_keys'] == [OTHER, THIRD, MINE] and fake.ssh_keys == [OTHER, THIRD]
    assert result['diff']['before'] == OTHER + '\n' + THIRD + '\n'
    assert result['diff']['after'] == OTHER + '\n' + THIRD + '\n' + MINE + '\n'
    removal = run(public_key=OTHER, state='absent', check_mode=True, diff=True)
    assert removal.changed and removal['diff']['after'] == THIRD + '\n' and fake.writes() == []


@pytest.mark.parametrize('key, fragment', [
    ('not a key', 'unknown SSH key type'),
    ('ssh-ed25519 AAAA', 'does not decode'),
    ('-----BEGIN OPENSSH PRIVATE KEY----- x', 'private key'),
])
def test_malformed_key_is_refused_before_any_request(run, fake, key, fragment):
    result = run(key=key)  # the old name stays an alias
    assert result.failed and fragment in result['msg'] and fake.calls == []


def test_api_errors(run, fake):
    fake.ssh_keys = [OTHER, 'legacy-format-key']
    result = run()
    assert result.failed and 'HTTP 422' in result['msg'] and "$.keys[1]: 'legacy-format-key' does not match" in result['msg']
    wrong = run(api_key='wrong')
    assert wrong.failed and 'HTTP 401' in wrong['msg'] and 'RUNPOD_API_KEY' in wrong['msg']


def test_a_concurrent_overwrite_is_detected(run, fake):
    fake.add_fault(Fault('PUT', r'^/v2/account/ssh-keys$', status=200, body={'keys': [OTHER]}))
    result = run()
    assert result.failed and 'missing from' in result['msg']


def test_reads_are_retried(run, fake):
    fake.add_fault(Fault('GET', r'ssh-keys', status=429, headers={'Retry-After': '0'},
                         body={'title': 'Too Many Requests', 'status': 429, 'detail': 'rate limit exceeded for the minute window'}))
    assert run().changed
    assert [c['status'] for c in fake.calls_to('GET')] == [429, 200]
