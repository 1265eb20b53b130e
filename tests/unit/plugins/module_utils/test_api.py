# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared HTTP client: retries, backoff, Retry-After, pacing, error envelopes, secrecy.

A scripted HTTP server on 127.0.0.1 answers each request with the next scripted response, so
the client's real requests/urllib3 stack is exercised; sleeps are recorded, not slept.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _api
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import (
    ApiClient,
    ApiError,
    Pacer,
    parse_retry_after,
)

KEY = 'sk-secret-key-1234567890'


class Scripted(object):
    """Answers with scripted (status, body, headers, content_type) tuples, then 200 {}."""

    def __init__(self):
        self.script = []
        self.requests = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def _do(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                scripted.requests.append(dict(method=self.command, path=self.path,
                                              auth=self.headers.get('Authorization'), body=body))
                status, payload, headers, ctype = scripted.script.pop(0) if scripted.script else (200, {}, {}, None)
                if isinstance(payload, (dict, list)):
                    data = json.dumps(payload).encode()
                    ctype = ctype or 'application/json'
                else:
                    data = (payload or '').encode()
                    ctype = ctype or 'text/plain'
                self.send_response(status)
                self.send_header('Content-Type', ctype)
                self.send_header('Content-Length', str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _do

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.05))
        self.thread.daemon = True
        self.thread.start()
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]

    def add(self, status, body=None, headers=None, ctype=None):
        self.script.append((status, body, headers, ctype))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    s = Scripted()
    yield s
    s.close()


def make(provider, url, slept, **kwargs):
    kwargs.setdefault('rng', random.Random(1))
    return ApiClient(provider, url, KEY, sleep=slept.append, **kwargs)


def test_bearer_auth_and_json(server):
    server.add(200, {'pods': []})
    client = make('runpod', server.url + '/', [])
    assert client.get('/v2/pods') == {'pods': []}
    assert server.requests[0]['auth'] == 'Bearer ' + KEY
    assert server.requests[0]['path'] == '/v2/pods'


@pytest.mark.parametrize('status', [429, 502, 503, 504])
def test_get_retried_on_transient_status(server, status):
    slept = []
    server.add(status, {'title': 'x', 'status': status, 'detail': 'busy'})
    server.add(status, {'title': 'x', 'status': status, 'detail': 'busy'})
    server.add(200, {'ok': True})
    client = make('runpod', server.url, slept)
    assert client.get('/v2/pods') == {'ok': True}
    assert len(server.requests) == 3
    assert len(slept) == 2


def test_retry_after_seconds_is_honoured(server):
    slept = []
    server.add(429, {'title': 'Too Many Requests', 'status': 429, 'detail': 'rate limit exceeded for the minute window'},
               headers={'Retry-After': '7'}, ctype='application/problem+json')
    server.add(200, {})
    make('runpod', server.url, slept).get('/v2/pods')
    assert slept == [7.0]


def test_backoff_is_capped_exponential_with_jitter(server):
    client = make('runpod', server.url, [], backoff_base=1.0, backoff_cap=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        for _unused in range(20):
            delay = client.backoff(attempt)
            assert ceiling / 2.0 <= delay <= ceiling


def test_bounded_number_of_tries(server):
    slept = []
    for _unused in range(10):
        server.add(503, {'title': 'Service Unavailable', 'status': 503, 'detail': 'upstream down'})
    client = make('runpod', server.url, slept, max_tries=4)
    with pytest.raises(ApiError) as info:
        client.get('/v2/pods')
    assert len(server.requests) == 4
    assert len(slept) == 3
    assert info.value.status == 503
    assert 'upstream down' in str(info.value)


def test_huge_retry_after_fails_fast_with_advice(server):
    slept = []
    server.add(429, {'success': False, 'error': 'search_quota_exceeded', 'msg': 'daily search quota exceeded'},
               headers={'Retry-After': '14400'})
    with pytest.raises(ApiError) as info:
        make('vastai', server.url, slept).put('/api/v0/search/asks/', {'q': {}})
    assert slept == []
    assert len(server.requests) == 1
    text = str(info.value)
    assert 'search_quota_exceeded' in text and '14400 seconds' in text


def test_create_not_retried_on_5xx_and_marked_ambiguous(server):
    slept = []
    server.add(500, {'title': 'Internal Server Error', 'status': 500, 'detail': 'boom'})
    with pytest.raises(ApiError) as info:
        make('runpod', server.url, slept).post('/v2/pods', {'name': 'x'}, ok=(201,))
    assert len(server.requests) == 1
    assert info.value.ambiguous is True


def test_create_retried_on_runpod_429_which_is_answered_before_acting(server):
    slept = []
    server.add(429, {'title': 'Too Many Requests', 'status': 429, 'detail': 'slow down'}, headers={'Retry-After': '1'})
    server.add(201, {'id': 'abc'})
    assert make('runpod', server.url, slept).post('/v2/pods', {'name': 'x'}, ok=(201,)) == {'id': 'abc'}
    assert slept == [1.0]


def test_lambda_launch_429_is_ambiguous_not_retried(server):
    slept = []
    server.add(429, 'Too Many Requests')
    with pytest.raises(ApiError) as info:
        make('lambda', server.url, slept).post('/api/v1/instance-operations/launch', {})
    assert len(server.requests) == 1
    assert info.value.ambiguous is True
    assert info.value.status == 429


def test_connection_refused_is_retried_even_for_create(server):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    slept = []
    client = make('runpod', 'http://127.0.0.1:%d' % port, slept, max_tries=3)
    with pytest.raises(ApiError) as info:
        client.post('/v2/pods', {'name': 'x'}, ok=(201,))
    assert len(slept) == 2, 'a refused connection never reached the server, so it is safe to retry'
    assert info.value.ambiguous is False
    assert 'after 3 tries' in str(info.value)


def test_read_timeout_on_create_is_ambiguous():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    try:
        port = listener.getsockname()[1]
        client = make('runpod', 'http://127.0.0.1:%d' % port, [], timeout=0.3)
        with pytest.raises(ApiError) as info:
            client.post('/v2/pods', {'name': 'x'}, ok=(201,))
        assert info.value.ambiguous is True
        assert 'Timeout' in str(info.value)
    finally:
        listener.close()


def test_runpod_problem_json_parsed(server):
    server.add(422, {'detail': 'Request validation failed.', 'errors': ["$: additional properties 'bogus' not allowed"],
                     'status': 422, 'title': 'Unprocessable Entity'}, ctype='application/problem+json')
    with pytest.raises(ApiError) as info:
        make('runpod', server.url, []).post('/v2/pods', {'bogus': 1}, ok=(201,))
    err = info.value
    assert (err.status, err.code, err.message) == (422, 'Unprocessable Entity', 'Request validation failed.')
    assert err.errors == ["$: additional properties 'bogus' not allowed"]
    assert str(err) == ("RunPod API POST /v2/pods failed: HTTP 422 [Unprocessable Entity]: Request validation failed. "
                        "($: additional properties 'bogus' not allowed)")
    assert err.ambiguous is False


def test_lambda_envelope_parsed(server):
    server.add(400, {'error': {'code': 'instance-operations/launch/insufficient-capacity',
                               'message': 'Not enough capacity to fulfill launch request.',
                               'suggestion': 'Choose an instance type with more availability, or try again later.'}})
    with pytest.raises(ApiError) as info:
        make('lambda', server.url, []).post('/api/v1/instance-operations/launch', {})
    err = info.value
    assert err.code == 'instance-operations/launch/insufficient-capacity'
    assert err.suggestion.startswith('Choose an instance type')
    assert 'Not enough capacity' in str(err) and 'Choose an instance type' in str(err)


def test_vast_envelope_plain_text_429_and_200_success_false(server):
    slept = []
    server.add(429, 'API requests too frequent endpoint threshold=1.0')
    server.add(200, {'success': False, 'error': 'invalid_args', 'msg': 'error 400/3467: Invalid args: disk'})
    with pytest.raises(ApiError) as info:
        make('vastai', server.url, slept).put('/api/v0/instances/1/', {'state': 'stopped'})
    assert len(slept) == 1  # the plain-text 429 was retried with our own backoff
    assert info.value.code == 'invalid_args'
    assert info.value.status == 200


def test_vast_plain_text_429_message_kept(server):
    for _unused in range(3):
        server.add(429, 'API requests too frequent')
    with pytest.raises(ApiError) as info:
        make('vastai', server.url, [], max_tries=3).get('/api/v0/users/current/')
    assert info.value.message == 'API requests too frequent'


def test_key_never_in_errors(server):
    server.add(401, {'title': 'Unauthorized', 'status': 401, 'detail': 'invalid token %s' % KEY})
    with pytest.raises(ApiError) as info:
        make('runpod', server.url, []).get('/v2/pods')
    assert KEY not in str(info.value)
    assert KEY not in json.dumps(info.value.to_dict())
    assert KEY not in json.dumps(info.value.body)


def test_log_lines_never_carry_the_key(server):
    lines = []
    server.add(503, 'unavailable')
    server.add(200, {})
    make('runpod', server.url + '/' + KEY, [], log=lines.append).get('/v2/pods')
    assert lines and all(KEY not in line for line in lines)


def test_parse_retry_after_forms():
    assert parse_retry_after('3') == 3.0
    assert parse_retry_after('1.5') == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after('soon') is None
    assert parse_retry_after('Wed, 21 Oct 2015 07:28:00 GMT', now=1445412470.0) == 10.0
    assert parse_retry_after('Wed, 21 Oct 2015 07:28:00 GMT', now=1445412490.0) == 0.0


class FakeClock(object):
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_pacer_keeps_intervals_per_bucket():
    clock = FakeClock()
    pacer = Pacer({'default': 1.0, 'launch': 12.0}, clock=clock, sleep=clock.sleep, margin=0)
    pacer.wait()                 # t=1000
    pacer.wait()                 # t=1001
    pacer.wait(['launch'])       # t=1002
    pacer.wait(['launch'])       # t=1014: the launch bucket dominates
    assert clock.now == pytest.approx(1014.0)
    assert clock.slept == [pytest.approx(1.0), pytest.approx(1.0), pytest.approx(12.0)]


def test_pacer_state_is_shared_between_instances_through_the_file(tmp_path):
    clock = FakeClock()
    path = str(tmp_path / 'pace')
    Pacer({'default': 1.0}, state_path=path, clock=clock, sleep=clock.sleep, margin=0).wait()
    Pacer({'default': 1.0}, state_path=path, clock=clock, sleep=clock.sleep, margin=0).wait()
    assert clock.slept == [pytest.approx(1.0)]
    with open(path) as handle:
        assert set(json.load(handle)) == {'default'}


def test_pacer_ignores_future_stamps(tmp_path):
    clock = FakeClock()
    path = tmp_path / 'pace'
    path.write_text(json.dumps({'default': 99999.0}))
    Pacer({'default': 1.0}, state_path=str(path), clock=clock, sleep=clock.sleep, margin=0).wait()
    assert clock.slept == []


def test_client_paces_real_requests(server):
    clock = FakeClock()
    client = make('lambda', server.url, [], pacer=Pacer({'default': 1.0, 'launch': 12.0}, clock=clock, sleep=clock.sleep, margin=0))
    client.get('/api/v1/instances')
    client.post('/api/v1/instance-operations/launch', {}, buckets=['launch'])
    client.post('/api/v1/instance-operations/launch', {}, buckets=['launch'])
    assert [round(s) for s in clock.slept] == [1, 12]
    assert client.request_count == 3


def test_requests_missing_is_reported(monkeypatch):
    monkeypatch.setattr(_api, 'HAS_REQUESTS', False)
    with pytest.raises(RuntimeError):
        ApiClient('runpod', 'http://x', KEY)


def test_search_quota_429_is_never_retried_even_without_retry_after(server):
    slept = []
    server.add(429, {'success': False, 'error': 'search_quota_exceeded', 'msg': 'daily search quota exceeded'})
    with pytest.raises(ApiError) as info:
        make('vastai', server.url, slept).post('/api/v0/bundles/', {'limit': 1}, idempotent=True)
    assert slept == [] and len(server.requests) == 1
    assert 'resets at midnight UTC' in str(info.value)


def test_pacer_adds_a_safety_margin():
    clock = FakeClock()
    pacer = Pacer({'default': 1.0}, clock=clock, sleep=clock.sleep)
    pacer.wait()
    pacer.wait()
    assert clock.slept == [pytest.approx(1.0 + Pacer.DEFAULT_MARGIN)]
