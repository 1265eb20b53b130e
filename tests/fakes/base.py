# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base of the local fake provider APIs.

A fake is a real HTTP server on 127.0.0.1 holding in-memory state, a call log and a fault
queue. Subclasses declare routes and implement the provider's auth, envelopes and status
machine as documented in shared/reference/provider-apis.md. Anything the fake does not
understand is an error answered the way the provider would answer it; anything that breaks
inside the fake is recorded in ``internal_errors`` (tests assert it stays empty).

Instances become reachable machines through a ``machines`` backend with ``boot``, ``stop``,
``destroy`` and ``authorize`` (keys added to a running instance); ``stop``/``destroy`` of an
instance that never booted must be a no-op. The default invents documentation-range addresses;
the simulated cloud plugs in real sshd processes.

Control endpoints (no auth, for tests and demos driving a fake running as a process):
``GET /_fake/calls``, ``DELETE /_fake/calls``, ``POST /_fake/faults``, ``GET /_fake/state``.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import struct
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_NO_BODY = object()


class Request(object):
    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self._json = _NO_BODY

    def arg(self, name, default=None):
        values = self.query.get(name)
        return values[-1] if values else default

    @property
    def has_body(self):
        return bool(self.body)

    def json(self):
        """The body decoded as JSON; raises ValueError when it is not JSON."""
        if self._json is _NO_BODY:
            self._json = json.loads(self.body.decode('utf-8')) if self.body else None
        return self._json


class Response(object):
    def __init__(self, status=200, body=None, headers=None, content_type='application/json'):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type

    def encode(self):
        if self.body is None or self.status == 204:
            return b''
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str) and not self.content_type.endswith('json'):
            return self.body.encode('utf-8')
        return json.dumps(self.body).encode('utf-8')


class Fault(object):
    """One queued misbehaviour, matched on method and a path regex, used ``times`` times.

    ``mode``:
      - ``respond``: answer ``status``/``body``/``headers`` instead of handling the request;
      - ``apply``: handle the request (state changes happen), then answer ``status``/``body``
        instead of the real answer ("created but 500");
      - ``delay``: sleep ``delay`` seconds, then handle normally: a client whose read timeout is
        shorter gives up first, and the effect lands (and shows in listings) only ``delay`` seconds
        after the request arrived, as a slow provider does;
      - ``late``: handle the request at once (the effect lands and is listed), then answer only
        after ``delay`` seconds (past the client's read timeout);
      - ``drop``: handle the request (the effect lands), then close the connection without an
        answer (``reset=True``, the default: a TCP reset; else a plain close);
      - ``drop_before``: close the connection without handling the request.

    With ``merge=True`` in ``apply`` mode the fault's dict body is laid over the real answer's
    (Vast.ai "failed but returned ``new_contract``").
    """

    def __init__(self, method=None, path=None, status=500, body=None, headers=None, mode='respond',
                 delay=0.0, times=1, content_type='application/json', reset=True, merge=False):
        self.method = method.upper() if method else None
        self.path = re.compile(path) if path else None
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.mode = mode
        self.delay = delay
        self.times = times
        self.content_type = content_type
        self.reset = reset
        self.merge = merge

    def matches(self, req):
        if self.method and self.method != req.method:
            return False
        if self.path and not self.path.search(req.path):
            return False
        return True

    def response(self, real=None):
        body = self.body
        if self.merge and isinstance(body, dict) and real is not None and isinstance(real.body, dict):
            body = dict(real.body, **body)
        return Response(self.status, body, self.headers, self.content_type)


class Dropped(Response):
    """No answer at all: the server closes the connection (with a TCP reset when ``reset``)."""

    def __init__(self, reset=True):
        super(Dropped, self).__init__(status=None)
        self.reset = reset


class NullMachines(object):
    """Machines that exist only as addresses (RFC 5737 documentation range)."""

    def __init__(self):
        self._count = 0
        self.booted = {}

    def boot(self, provider, instance_id, public_keys, ssh_user, name=None):  # pylint: disable=unused-argument
        self._count += 1
        endpoint = dict(host='203.0.113.%d' % (10 + self._count % 200), port=20000 + self._count, user=ssh_user)
        self.booted[(provider, instance_id)] = dict(endpoint, public_keys=list(public_keys))
        return endpoint

    def authorize(self, provider, instance_id, public_keys):
        """Keys added to a running instance (Vast.ai adds account keys to current instances)."""
        if (provider, instance_id) in self.booted:
            self.booted[(provider, instance_id)]['public_keys'] = list(public_keys)

    def stop(self, provider, instance_id):
        self.booted.pop((provider, instance_id), None)

    def destroy(self, provider, instance_id):
        self.booted.pop((provider, instance_id), None)


class FakeApi(object):
    """A fake provider API. Subclasses set ``provider`` and implement the hooks below."""

    provider = None

    def __init__(self, api_key='test-key', boot_delay=0.5, machines=None, clock=time.monotonic):
        self.api_key = api_key
        self.boot_delay = boot_delay
        self.machines = machines or NullMachines()
        self.clock = clock
        self.lock = threading.RLock()
        self.calls = []
        self.faults = []
        self.internal_errors = []
        self._server = None
        self._thread = None
        self._routes = [(m, re.compile('^' + p + '$'), h) for m, p, h in self.routes()]

    # --- hooks for subclasses -------------------------------------------------------------
    def routes(self):
        """[(method, path regex, handler(req, **groups) -> Response)]"""
        raise NotImplementedError

    def authenticate(self, req):
        """None when the request carries the right key, else the provider's auth failure."""
        raise NotImplementedError

    def error(self, status, message, code=None, **extra):
        """A Response in the provider's error envelope."""
        raise NotImplementedError

    def rate_limit(self, req):
        """None, or the provider's 429 when the request breaks its rate limit."""
        return None

    def state(self):
        """A JSON-able view of the fake's state for /_fake/state."""
        return {}

    # --- helpers --------------------------------------------------------------------------
    def bearer_ok(self, req):
        return req.headers.get('authorization') == 'Bearer %s' % self.api_key

    def add_fault(self, *args, **kwargs):
        fault = args[0] if args and isinstance(args[0], Fault) else Fault(*args, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def calls_to(self, method=None, path=None):
        pattern = re.compile(path) if path else None
        with self.lock:
            return [c for c in self.calls
                    if (method is None or c['method'] == method.upper()) and (pattern is None or pattern.search(c['path']))]

    def writes(self):
        """Calls that could change state (anything but GET/HEAD), the control endpoints aside."""
        return [c for c in self.calls if c['method'] not in ('GET', 'HEAD')]

    def _take_fault(self, req):
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(req):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def dispatch(self, req):
        if req.path.startswith('/_fake/'):
            return self._control(req)
        started = self.clock()
        status = None
        try:
            response = self._dispatch(req)
            status = response.status
            return response
        finally:
            with self.lock:
                body = None
                if req.body:
                    try:
                        body = req.json()
                    except ValueError:
                        body = req.body.decode('utf-8', 'replace')
                self.calls.append(dict(method=req.method, path=req.path, query=req.query, body=body,
                                       status=status, time=started, wall=time.time()))

    def _dispatch(self, req):
        fault = self._take_fault(req)
        if fault is not None and fault.mode == 'delay':
            time.sleep(fault.delay)
            fault = None
        if fault is not None and fault.mode == 'respond':
            return fault.response()
        if fault is not None and fault.mode == 'drop_before':
            return Dropped(fault.reset)
        denied = self.authenticate(req)
        if denied is not None:
            return denied
        limited = self.rate_limit(req)
        if limited is not None:
            return limited
        handler, groups, allowed = None, {}, []
        for method, pattern, func in self._routes:
            match = pattern.match(req.path)
            if match:
                allowed.append(method)
                if method == req.method:
                    handler, groups = func, match.groupdict()
                    break
        if handler is None:
            if allowed:
                return self.error(405, 'method not allowed', headers={'Allow': ', '.join(sorted(set(allowed)))})
            return self.error(404, 'resource not found')
        try:
            with self.lock:
                response = handler(req, **groups)
        except Exception:  # pylint: disable=broad-except
            self.internal_errors.append(traceback.format_exc())
            return self.error(500, 'internal error in the fake (see internal_errors)')
        if fault is not None and fault.mode == 'apply':
            return fault.response(response)
        if fault is not None and fault.mode == 'late':
            time.sleep(fault.delay)
        if fault is not None and fault.mode == 'drop':
            return Dropped(fault.reset)
        return response

    def _control(self, req):
        if req.path == '/_fake/calls' and req.method == 'GET':
            with self.lock:
                return Response(200, dict(calls=self.calls, internal_errors=self.internal_errors))
        if req.path == '/_fake/calls' and req.method == 'DELETE':
            with self.lock:
                del self.calls[:]
            return Response(204)
        if req.path == '/_fake/faults' and req.method == 'POST':
            spec = req.json() or {}
            self.add_fault(**spec)
            return Response(201, dict(queued=len(self.faults)))
        if req.path == '/_fake/state' and req.method == 'GET':
            with self.lock:
                return Response(200, self.state())
        return Response(404, dict(error='unknown control endpoint'))

    # --- server ---------------------------------------------------------------------------
    def start(self, host='127.0.0.1', port=0):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            # Headers and body leave in separate writes; without TCP_NODELAY every answer waits
            # for the client's delayed ACK (about 40 ms a request).
            disable_nagle_algorithm = True

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

            def _handle(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                headers = dict((k.lower(), v) for k, v in self.headers.items())
                req = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True), headers, body)
                response = fake.dispatch(req)
                if isinstance(response, Dropped):
                    if response.reset:
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                    self.close_connection = True
                    return
                try:
                    payload = response.encode()
                    self.send_response(response.status)
                    if payload:
                        self.send_header('Content-Type', response.content_type)
                    self.send_header('Content-Length', str(len(payload)))
                    for key, value in response.headers.items():
                        self.send_header(key, str(value))
                    self.end_headers()
                    if payload:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up first (a "late" answer past its read timeout).
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs=dict(poll_interval=0.05))
        self._thread.daemon = True
        self._thread.start()
        return self

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wait_forever(self):
        """Process mode: block until SIGINT or SIGTERM, then stop the server."""
        def _stop(signum, frame):
            raise KeyboardInterrupt()
        signal.signal(signal.SIGTERM, _stop)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
