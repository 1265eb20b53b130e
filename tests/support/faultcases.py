# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The project's fault matrix, shared by tests/unit/plugins/modules/test_faults.py and
bench/faults.py: one descriptor per provider (its fake, its instance module, the paths of its
create and terminate, its error envelope) and the cases, each run through the module's real
main() against the strict fake with a fault queued.

Each case returns an Outcome: the module result, the instances with the name afterwards, the
number of creates sent and whether the failure message names provider, cause and next step.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time

from ansible.module_utils.testing import patch_module_args

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _common, _instance, _lifecycle, _vastai
from ansible_collections.nanochat.remote_gpu.plugins.modules import lambda_instance, runpod_pod, vastai_instance
from tests.fakes.base import Fault
from tests.fakes.lambda_cloud import FakeLambda, example_public_key
from tests.fakes.runpod import CAPACITY_DETAIL, FakeRunPod
from tests.fakes.vastai import FakeVast

KEY = 'fault-matrix-key-3f9a'
NAME = 'faulty'
# The client's read timeout in the matrix; "late" answers come after it.
READ_TIMEOUT = 0.5
LATE = 1.2
LABELS = {'runpod': ('RunPod',), 'lambda': ('Lambda Cloud', 'Lambda instance'), 'vastai': ('Vast.ai',)}
NEXT_STEP = re.compile(r'\b(run|set|use|remove|try|check|add|give|pass|terminate|destroy|wait|raise|pick|fix|register|'
                       r'create|keep|delete|choose|export|ask|find)\b', re.IGNORECASE)


def _error_body(provider, status, message):
    if provider == 'runpod':
        return {'title': 'Internal Server Error' if status >= 500 else 'Error', 'status': status, 'detail': message}
    if provider == 'lambda':
        return {'error': {'code': 'global/internal-error', 'message': message, 'suggestion': 'Try again shortly'}}
    return {'success': False, 'error': 'server_error', 'msg': message}


PROVIDERS = {
    'runpod': dict(module=runpod_pod, create=('POST', r'^/v2/pods$'), terminate=('DELETE', r'^/v2/pods/[^/]+$')),
    'lambda': dict(module=lambda_instance, create=('POST', r'/instance-operations/launch$'),
                   terminate=('POST', r'/instance-operations/terminate$')),
    'vastai': dict(module=vastai_instance, create=('PUT', r'^/api/v0/asks/'), terminate=('DELETE', r'^/api/v0/instances/\d+/?$')),
}


def make_fake(provider, boot_delay=0.2, **kwargs):
    if provider == 'runpod':
        fake = FakeRunPod(api_key=KEY, boot_delay=boot_delay, rate_limits={'minute': 10 ** 6, 'hour': 10 ** 6, 'day': 10 ** 6},
                          **kwargs)
    elif provider == 'lambda':
        fake = FakeLambda(api_key=KEY, boot_delay=boot_delay, terminate_delay=0.05, gone_delay=0.1, rate_limits={}, **kwargs)
        fake.add_ssh_key('nanochat', example_public_key('me@laptop'))
        fake.set_capacity('gpu_8x_h100_sxm5', ['us-west-1'])
    else:
        fake = FakeVast(api_key=KEY, boot_delay=boot_delay, rate_limits={}, **kwargs)
    return fake.start()


def params(provider, fake, **extra):
    args = dict(api_key=KEY, api_url=fake.url, name=NAME, wait_timeout=10)
    if provider == 'runpod':
        args.update(gpu_type='NVIDIA H100 80GB HBM3', gpu_count=8, ssh_public_key=example_public_key('me@laptop'))
    elif provider == 'lambda':
        args.update(instance_type='gpu_8x_h100_sxm5', ssh_key_name='nanochat')
    else:
        args.update(gpu_name='H100 SXM', num_gpus=8)
    args.update(extra)
    return dict((k, v) for k, v in args.items() if v is not None)


def live(provider, fake, name=NAME):
    """The instances with ``name`` that exist (and bill) in the fake right now."""
    if provider == 'runpod':
        return [p for p in fake.state()['pods'] if p.get('name') == name and p.get('status') != 'TERMINATED']
    if provider == 'lambda':
        return fake.live_instances(name)
    with fake.lock:
        return [dict(i) for i in fake.instances.values() if i.get('label') == name]


@contextlib.contextmanager
def fast(settle=1.5):
    """Short sleeps everywhere (same decisions): what the unit tests' fixtures do."""
    saved = (dict(_common.CLIENT_OPTIONS), dict(_common.RATE_LIMITS), _instance.DEFAULT_POLL_INTERVAL,
             dict(_lifecycle.CREATE_SETTLE_SECONDS), _lifecycle.SETTLE_INTERVAL, _lifecycle.TERMINATE_BACKOFF,
             _vastai.CREATE_TIMEOUT)
    _common.CLIENT_OPTIONS.clear()
    _common.CLIENT_OPTIONS.update(backoff_base=0.01, backoff_cap=0.05, max_retry_after=60.0, timeout=READ_TIMEOUT)
    for provider in list(_common.RATE_LIMITS):
        _common.RATE_LIMITS[provider] = {}
    _instance.DEFAULT_POLL_INTERVAL = 0.05
    _lifecycle.CREATE_SETTLE_SECONDS = dict((p, settle) for p in saved[3])
    _lifecycle.SETTLE_INTERVAL = 0.05
    _lifecycle.TERMINATE_BACKOFF = 0.01
    _vastai.CREATE_TIMEOUT = READ_TIMEOUT
    try:
        yield
    finally:
        _common.CLIENT_OPTIONS.clear()
        _common.CLIENT_OPTIONS.update(saved[0])
        _common.RATE_LIMITS.clear()
        _common.RATE_LIMITS.update(saved[1])
        _instance.DEFAULT_POLL_INTERVAL = saved[2]
        _lifecycle.CREATE_SETTLE_SECONDS = saved[3]
        _lifecycle.SETTLE_INTERVAL, _lifecycle.TERMINATE_BACKOFF, _vastai.CREATE_TIMEOUT = saved[4], saved[5], saved[6]


def run_main(module, args):
    """Run ``module.main()`` in this process; the parsed JSON result."""
    from ansible.module_utils import _internal
    from ansible.module_utils.common import warnings as _warnings
    controller = _internal.is_controller
    _internal.is_controller = False
    _warnings._global_warnings.clear()
    _warnings._global_deprecations.clear()
    out = io.StringIO()
    try:
        with patch_module_args(dict(args, _ansible_check_mode=False, _ansible_diff=False)):
            with contextlib.redirect_stdout(out):
                try:
                    module.main()
                except SystemExit:
                    pass
    finally:
        _internal.is_controller = controller
    return json.loads(out.getvalue())


def message_problems(provider, msg):
    """What a failure message lacks: 'provider' (in its first line), 'cause', 'next step'."""
    first = (msg or '').splitlines()[0] if msg else ''
    problems = []
    if not any(label in first for label in LABELS[provider]):
        problems.append('provider')
    if len(msg or '') < 40:
        problems.append('cause')
    if not NEXT_STEP.search(msg or ''):
        problems.append('next step')
    return problems


class Outcome(object):
    def __init__(self, provider, case, result, after, creates, expect, kind='create'):
        self.provider = provider
        self.case = case
        self.result = result
        self.after = after
        self.creates = creates
        self.expect = expect
        msg = result.get('msg') or ''
        self.duplicate = len(after) > 1
        named = [str(i.get('id')) for i in after if str(i.get('id')) in json.dumps(result)]
        claims = ('nothing was created', 'nothing is left billing', 'nothing was launched', 'none was rented')
        claims_nothing = any(t in msg.lower() for t in claims)
        # A leak: something bills that the result does not name, or a message that says nothing
        # was created while something bills. (A refused key on a teardown names nothing, and
        # creates nothing: the instance is the user's, and the message says the key is wrong.)
        if kind == 'terminate' and result.get('failed'):
            self.leak = bool(after) and claims_nothing
        else:
            self.leak = bool(after) and (len(named) < len(after) or claims_nothing)
        self.message_problems = message_problems(provider, msg) if result.get('failed') else []

    @property
    def ok(self):
        return self.expect(self) and not self.duplicate and not self.leak and not self.message_problems


def _adopted(o):
    return not o.result.get('failed') and len(o.after) == 1 and o.creates == 1


def _unknown(o):
    return o.result.get('failed') and o.result.get('create_outcome') == 'unknown' and o.creates == 1


def _failed_clean(o):
    return o.result.get('failed') and not o.after


def _succeeded(o):
    return not o.result.get('failed') and len(o.after) == 1


def _create_fault(mode, status=500, delay=0.0, headers=None, times=1, reset=True):
    def setup(provider, fake):
        method, path = PROVIDERS[provider]['create']
        fake.add_fault(Fault(method, path, status=status, mode=mode, delay=delay, headers=headers, times=times,
                             reset=reset, body=_error_body(provider, status, 'upstream timeout'),
                             content_type='text/plain' if status == 429 and provider == 'vastai' else 'application/json'))
    return setup


def _setup_429(retry_after):
    def setup(provider, fake):
        method, path = PROVIDERS[provider]['create']
        headers = {'Retry-After': '0'} if retry_after else {}
        body = 'API requests too frequent' if provider == 'vastai' else _error_body(provider, 429, 'rate limit exceeded')
        fake.add_fault(Fault(method, path, status=429, body=body, headers=headers,
                             content_type='text/plain' if provider == 'vastai' else 'application/json'))
    return setup


def _expect_429(o):
    # RunPod and Vast.ai answer 429 before acting (retried once); a Lambda 429 may have launched.
    return _succeeded(o) if o.provider != 'lambda' else (_unknown(o) and not o.after)


def _setup_capacity(provider, fake):
    if provider == 'runpod':
        body = {'title': 'Bad Request', 'status': 400, 'detail': CAPACITY_DETAIL}
        fake.add_fault(Fault('POST', r'^/v2/pods$', status=400, body=body))
    elif provider == 'lambda':
        fake.set_capacity('gpu_8x_h100_sxm5', [])
    else:
        for offer in fake.offers:
            offer['rented'] = True


def _setup_stuck(provider, fake):
    fake.boot_delay = 600


def _setup_new_contract(provider, fake):
    fake.add_fault(Fault('PUT', r'^/api/v0/asks/', status=200, mode='apply', merge=True,
                         body={'success': False, 'error': 'internal_error', 'msg': 'instance start failed'}))


def _setup_oci(provider, fake):
    for offer in fake.offers:
        fake.fail_provisioning(offer['id'], status='oci')


# (name, providers or None for all, setup, extra module args, expectation, settle window)
CREATE_CASES = [
    ('late answer, effect landed', None, _create_fault('late', delay=LATE), {}, _adopted, 2.5),
    ('slow create lands after the read timeout', None, _create_fault('delay', delay=LATE), {}, _adopted, 2.5),
    ('5xx after effect', None, _create_fault('apply', status=500), {}, _adopted, 1.5),
    ('connection reset after effect', None, _create_fault('drop'), {}, _adopted, 1.5),
    ('connection closed after effect', None, _create_fault('drop', reset=False), {}, _adopted, 1.5),
    ('5xx without effect', None, _create_fault('respond', status=502), {}, lambda o: _unknown(o) and not o.after, 1.0),
    ('reset before effect', None, _create_fault('drop_before'), {}, lambda o: _unknown(o) and not o.after, 1.0),
    ('429 with Retry-After', None, _setup_429(True), {}, _expect_429, 1.0),
    ('429 without Retry-After', None, _setup_429(False), {}, _expect_429, 1.0),
    ('no capacity', None, _setup_capacity, {}, _failed_clean, 1.0),
    ('stuck boot', None, _setup_stuck, {'wait_timeout': 1}, lambda o: o.result.get('failed') and len(o.after) == 1, 1.0),
    ('401 bad key', None, None, {'api_key': 'wrong-key'}, _failed_clean, 1.0),
    ('create failed but new_contract', ['vastai'], _setup_new_contract, {}, _failed_clean, 1.0),
    ('OCI runtime create failed', ['vastai'], _setup_oci, {}, lambda o: o.result.get('failed') and len(o.after) == 1, 1.0),
]


def _terminate_fault(mode, status=500, times=1):
    def setup(provider, fake):
        method, path = PROVIDERS[provider]['terminate']
        fake.add_fault(Fault(method, path, status=status, mode=mode, times=times,
                             body=_error_body(provider, status, 'internal error')))
    return setup


def _gone(o):
    return not o.result.get('failed') and not o.after and o.result.get('changed')


def _named_alive(o):
    msg = o.result.get('msg') or ''
    return (o.result.get('failed') and len(o.after) == 1 and str(o.after[0].get('id')) in msg
            and 'USD/h' in msg)


TERMINATE_CASES = [
    ('one 500 on terminate', None, _terminate_fault('respond'), {}, _gone),
    ('500 after effect on terminate', None, _terminate_fault('apply'), {}, _gone),
    ('reset after effect on terminate', None, _terminate_fault('drop'), {}, _gone),
    ('three 503 on terminate', None, _terminate_fault('respond', status=503, times=3), {}, _gone),
    ('terminate keeps failing', None, _terminate_fault('respond', times=100), {}, _named_alive),
    ('404 auth_error on terminate', ['vastai'], None, {'api_key': 'wrong-key'},
     lambda o: o.result.get('failed') and len(o.after) == 1 and 'key' in o.result['msg'].lower()),
]


def run_create_case(provider, case):
    name, _providers, setup, extra, expect, settle = case
    fake = make_fake(provider, auth_error_status=404) if provider == 'vastai' and 'auth' in name else make_fake(provider)
    try:
        with fast(settle=settle):
            if setup is not None:
                setup(provider, fake)
            result = run_main(PROVIDERS[provider]['module'], params(provider, fake, **extra))
            if name.startswith(('slow create', 'late answer')):
                time.sleep(LATE)  # anything still landing has landed, and the fake logged the call
            method, path = PROVIDERS[provider]['create']
            creates = len(fake.calls_to(method, path))
            return Outcome(provider, name, result, live(provider, fake), creates, expect)
    finally:
        fake.stop()


def run_terminate_case(provider, case):
    name, _providers, setup, extra, expect = case
    fake = make_fake(provider, auth_error_status=404) if provider == 'vastai' and 'auth' in name else make_fake(provider)
    try:
        with fast():
            created = run_main(PROVIDERS[provider]['module'], params(provider, fake))
            assert not created.get('failed'), created
            if setup is not None:
                setup(provider, fake)
            result = run_main(PROVIDERS[provider]['module'], params(provider, fake, state='absent', **extra))
            return Outcome(provider, name, result, live(provider, fake), 0, expect, kind='terminate')
    finally:
        fake.stop()


def all_cases():
    """[(kind, provider, case)] over the three providers."""
    cases = []
    for provider in PROVIDERS:
        for case in CREATE_CASES:
            if case[1] is None or provider in case[1]:
                cases.append(('create', provider, case))
        for case in TERMINATE_CASES:
            if case[1] is None or provider in case[1]:
                cases.append(('terminate', provider, case))
    return cases


def run_case(kind, provider, case):
    return run_create_case(provider, case) if kind == 'create' else run_terminate_case(provider, case)
