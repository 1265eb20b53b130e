# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP client shared by the RunPod, Lambda Cloud and Vast.ai adapters.

One ``ApiClient`` per provider and API key: a ``requests.Session`` with the provider's auth
header, explicit timeouts, retries (429, 502, 503, 504 and connection errors, honouring
``Retry-After``, capped jittered exponential backoff, a bounded number of tries), client-side
pacing for documented rate limits, and ``ApiError`` built from each provider's error envelope.

A request that may have changed something (a create) is never retried blindly: when its outcome
is unknown (5xx, timeout, connection lost after sending), ``ApiError.ambiguous`` is set and the
caller looks the resource up before trying again.

The API key never appears in an error, a log line or a file.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import tempfile
import time
import traceback

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

try:
    import requests
    from requests import exceptions as requests_exceptions
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised by the sanity import test
    requests = None
    requests_exceptions = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()


PROVIDER_LABELS = {
    'runpod': 'RunPod',
    'lambda': 'Lambda Cloud',
    'vastai': 'Vast.ai',
}

USER_AGENT = 'nanochat.remote_gpu/0.1.0'

# Statuses worth a retry for a request that is safe to repeat.
RETRY_STATUSES = frozenset((429, 502, 503, 504))

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_TRIES = 5
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_CAP = 30.0
# A Retry-After longer than this is not slept through inside a module (Vast's daily search
# quota points hours ahead): the call fails with a message saying when to come back.
DEFAULT_MAX_RETRY_AFTER = 60.0

# Error codes that mean "a quota is used up": never retried (Vast.ai's offer-search quota resets
# at midnight UTC; its official SDK does not retry it either).
QUOTA_CODES = {
    'search_quota_exceeded': 'The daily offer-search quota is used up; it resets at midnight UTC',
}

SAFE_METHODS = frozenset(('GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'))


class ApiError(Exception):
    """A failed provider API call, with everything a user needs to act on it."""

    def __init__(self, provider, method, path, status=None, code=None, message=None,
                 suggestion=None, errors=None, retry_after=None, transport_error=None,
                 ambiguous=False, body=None, tries=1):
        self.provider = provider
        # How many times the request was sent: a 404 on a delete after an earlier try means
        # that earlier try took effect.
        self.tries = tries
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.message = message
        self.suggestion = suggestion
        self.errors = list(errors or [])
        self.retry_after = retry_after
        self.transport_error = transport_error
        self.ambiguous = ambiguous
        self.body = body
        super(ApiError, self).__init__(self.describe())

    def __str__(self):
        return self.describe()

    @property
    def label(self):
        return PROVIDER_LABELS.get(self.provider, self.provider)

    def describe(self):
        parts = ['%s API %s %s failed' % (self.label, self.method, self.path)]
        if self.status is not None:
            parts.append(': HTTP %s' % self.status)
        elif self.transport_error:
            parts.append(': %s' % self.transport_error)
        if self.code:
            parts.append(' [%s]' % self.code)
        if self.message:
            parts.append(': %s' % self.message)
        if self.errors:
            parts.append(' (%s)' % '; '.join(str(e) for e in self.errors))
        if self.suggestion:
            parts.append('. %s' % self.suggestion.rstrip('.'))
        text = ''.join(parts)
        if self.retry_after is not None and self.status == 429:
            text += ' (Retry-After: %ss)' % _format_seconds(self.retry_after)
        return text

    def to_dict(self):
        """The error as returned to the user (never any header, never the key)."""
        return dict(provider=self.provider, method=self.method, path=self.path, status=self.status,
                    code=self.code, message=self.message, suggestion=self.suggestion,
                    errors=self.errors, retry_after=self.retry_after, ambiguous=self.ambiguous)


def _format_seconds(value):
    return ('%d' % value) if float(value).is_integer() else ('%.1f' % value)


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


# --- error envelopes -----------------------------------------------------------------------

def _json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return None


def _text_snippet(response, limit=300):
    try:
        text = response.text or ''
    except Exception:  # pylint: disable=broad-except
        return ''
    text = ' '.join(text.split())
    return text[:limit]


def parse_runpod_error(status, body, text):
    """RunPod REST v2: RFC 9457 problem+json ``{title, status, detail, errors?}``."""
    if isinstance(body, dict):
        errors = body.get('errors') or []
        if not isinstance(errors, list):
            errors = [errors]
        # Older bodies ({"error": "...", "status": N}) are tolerated.
        message = body.get('detail') or body.get('error') or body.get('message')
        return dict(code=body.get('title'), message=message, errors=errors)
    return dict(message=text or None)


def parse_lambda_error(status, body, text):
    """Lambda Cloud: ``{"error": {"code", "message", "suggestion"}}``."""
    if isinstance(body, dict) and isinstance(body.get('error'), dict):
        err = body['error']
        return dict(code=err.get('code'), message=err.get('message'), suggestion=err.get('suggestion'))
    if isinstance(body, dict):
        return dict(message=body.get('message') or body.get('detail'))
    return dict(message=text or None)


def parse_vastai_error(status, body, text):
    """Vast.ai: ``{"success": false, "error", "msg"}``, or ``{"detail"}``, or plain text (429)."""
    if isinstance(body, dict):
        code = body.get('error') if isinstance(body.get('error'), str) else None
        message = body.get('msg') or body.get('message') or body.get('detail')
        if message is None and isinstance(body.get('error'), str):
            message = body['error']
        return dict(code=code, message=message)
    return dict(message=text or None)


ERROR_PARSERS = {
    'runpod': parse_runpod_error,
    'lambda': parse_lambda_error,
    'vastai': parse_vastai_error,
}


# --- pacing --------------------------------------------------------------------------------

class Pacer(object):
    """Keeps a minimum interval between requests, per rate-limit bucket.

    ``intervals`` maps a bucket name to seconds; every request counts against the ``default``
    bucket (if any) plus the buckets it names, plus ``margin`` seconds of safety. With
    ``state_path`` the last request times are
    shared between processes (forks of one play calling the same provider) through a locked
    file holding only timestamps.
    """

    # Added to every interval: two requests sent exactly one interval apart can arrive a few
    # milliseconds closer together than that, and the server counts arrivals.
    DEFAULT_MARGIN = 0.05

    def __init__(self, intervals, state_path=None, clock=time.time, sleep=time.sleep, margin=DEFAULT_MARGIN):
        self.intervals = dict((name, seconds + margin) for name, seconds in (intervals or {}).items())
        self.state_path = state_path if fcntl is not None else None
        self.clock = clock
        self.sleep = sleep
        self._last = {}

    def _buckets(self, buckets):
        names = []
        if 'default' in self.intervals:
            names.append('default')
        for name in buckets or ():
            if name in self.intervals and name not in names:
                names.append(name)
        return names

    def _wait_and_mark(self, names, last):
        while True:
            now = self.clock()
            wait = max([last.get(n, float('-inf')) + self.intervals[n] - now for n in names] + [0.0])
            if wait <= 0:
                break
            self.sleep(wait)
        now = self.clock()
        for name in names:
            last[name] = now
        return last

    def wait(self, buckets=None):
        names = self._buckets(buckets)
        if not names:
            return
        if not self.state_path:
            self._wait_and_mark(names, self._last)
            return
        with open(self.state_path, 'a+') as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                try:
                    last = json.loads(handle.read() or '{}')
                    if not isinstance(last, dict):
                        last = {}
                except ValueError:
                    last = {}
                # A clock that went backwards (or a stale file from another clock) must not
                # block us: ignore stamps from the future.
                now = self.clock()
                last = dict((k, v) for k, v in last.items() if isinstance(v, (int, float)) and v <= now)
                last = self._wait_and_mark(names, last)
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(last))
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def default_pace_state_path(provider, api_url):
    """A per-user, per-endpoint file for cross-process pacing (timestamps only, no secrets)."""
    safe_url = ''.join(c if c.isalnum() else '_' for c in api_url)[:80]
    return os.path.join(tempfile.gettempdir(), 'nanochat-remote-gpu-%s-%s-%s.pace' % (os.getuid(), provider, safe_url))


# --- client --------------------------------------------------------------------------------

class ApiClient(object):
    """JSON-over-HTTPS client for one provider and one key."""

    def __init__(self, provider, api_url, api_key, timeout=DEFAULT_TIMEOUT, max_tries=DEFAULT_MAX_TRIES,
                 backoff_base=DEFAULT_BACKOFF_BASE, backoff_cap=DEFAULT_BACKOFF_CAP,
                 max_retry_after=DEFAULT_MAX_RETRY_AFTER, pacer=None, sleep=time.sleep,
                 rng=None, session=None, log=None):
        if not HAS_REQUESTS:
            raise RuntimeError('the Python library "requests" is required')
        if provider not in ERROR_PARSERS:
            raise ValueError('unknown provider %r' % (provider,))
        self.provider = provider
        self.api_url = api_url.rstrip('/')
        self._api_key = api_key
        self.timeout = timeout
        self.max_tries = max(1, int(max_tries))
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.pacer = pacer
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.log = log
        self.session = session or requests.Session()
        self.session.headers.update({
            'Authorization': 'Bearer %s' % api_key,
            'Accept': 'application/json',
            'User-Agent': USER_AGENT,
        })
        # Counters read by benchmarks and tests.
        self.request_count = 0
        self.request_times = []

    @property
    def label(self):
        return PROVIDER_LABELS[self.provider]

    def backoff(self, attempt):
        """Seconds before try ``attempt + 1``: capped exponential with jitter (half to full)."""
        delay = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return self.rng.uniform(delay / 2.0, delay)

    def _redact(self, text):
        if text and self._api_key and self._api_key in text:
            text = text.replace(self._api_key, '********')
        return text

    def _error(self, method, path, response=None, transport_error=None, ambiguous=False):
        if response is None:
            return ApiError(self.provider, method, path, transport_error=self._redact(transport_error),
                            ambiguous=ambiguous)
        body = _json_or_none(response)
        text = _text_snippet(response)
        fields = ERROR_PARSERS[self.provider](response.status_code, body, text)
        for key in ('message', 'suggestion', 'code'):
            if isinstance(fields.get(key), str):
                fields[key] = self._redact(fields[key])
        fields['errors'] = [self._redact(str(e)) for e in fields.get('errors') or []]
        if body is not None:
            body = json.loads(self._redact(json.dumps(body)))
        return ApiError(self.provider, method, path, status=response.status_code,
                        retry_after=parse_retry_after(response.headers.get('Retry-After')),
                        ambiguous=ambiguous, body=body if body is not None else (self._redact(text) or None),
                        **fields)

    @staticmethod
    def _tried(error, attempt):
        error.tries = attempt
        return error

    def _body_error(self, method, path, response, body):
        """Vast.ai can answer 200 with ``success: false``: that is a failure too."""
        if self.provider == 'vastai' and isinstance(body, dict) and body.get('success') is False:
            return self._error(method, path, response)
        return None

    def _log(self, text):
        if self.log is not None:
            self.log(self._redact(text))

    def request(self, method, path, params=None, json_body=None, ok=(200,), idempotent=None,
                retry_429=None, buckets=None, timeout=None, raw=False):
        """Send one logical request; return the decoded JSON body (None when empty).

        ``idempotent`` defaults to True for GET/HEAD/OPTIONS/PUT/DELETE: those are retried on
        429, 502, 503, 504 and connection errors. A non-idempotent request (a create) is retried
        only when nothing can have happened: the connection was never made, or a 429 that the
        provider answers before acting (``retry_429=True``, the default for RunPod and Vast.ai).
        Otherwise the ApiError carries ``ambiguous=True``.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in SAFE_METHODS
        if retry_429 is None:
            retry_429 = idempotent or self.provider in ('runpod', 'vastai')
        url = self.api_url + path
        attempt = 0
        while True:
            attempt += 1
            if self.pacer is not None:
                self.pacer.wait(buckets)
            self.request_count += 1
            self.request_times.append(time.monotonic())
            self._log('%s %s (try %d)' % (method, path, attempt))
            try:
                response = self.session.request(method, url, params=params, json=json_body,
                                                timeout=timeout or self.timeout)
            except Exception as exc:  # pylint: disable=broad-except
                if requests_exceptions is None or not isinstance(exc, requests_exceptions.RequestException):
                    raise
                not_sent = _never_sent(exc)
                description = '%s: %s' % (type(exc).__name__, _short(exc))
                if not idempotent and not not_sent:
                    raise self._tried(self._error(method, path, transport_error=description, ambiguous=True), attempt)
                if attempt >= self.max_tries:
                    raise self._tried(self._error(method, path, transport_error='%s (after %d tries)' % (description, attempt)),
                                      attempt)
                self.sleep(self.backoff(attempt))
                continue

            status = response.status_code
            if status in ok:
                body = _decode(response)
                error = self._body_error(method, path, response, body)
                if error is not None:
                    raise error
                return response if raw else body

            error = self._tried(self._error(method, path, response), attempt)
            retryable = status in RETRY_STATUSES and (idempotent or (status == 429 and retry_429))
            long_wait = error.retry_after is not None and error.retry_after > self.max_retry_after
            if error.code in QUOTA_CODES or (retryable and long_wait):
                # A used-up quota, or a wait longer than a module should sleep: fail now, say when.
                hints = [error.suggestion, QUOTA_CODES.get(error.code)]
                if error.retry_after is not None:
                    hints.append('The provider asks to wait %s seconds before the next request; try again later'
                                 % _format_seconds(error.retry_after))
                error.suggestion = '. '.join(h.rstrip('.') for h in hints if h)
                raise error
            if retryable and attempt < self.max_tries:
                delay = error.retry_after if error.retry_after is not None else self.backoff(attempt)
                self._log('%s %s: HTTP %s, retrying in %.2fs' % (method, path, status, delay))
                self.sleep(delay)
                continue
            if not idempotent and (status >= 500 or (status == 429 and not retry_429)):
                error.ambiguous = True
            raise error

    def get(self, path, **kwargs):
        return self.request('GET', path, **kwargs)

    def post(self, path, json_body=None, **kwargs):
        return self.request('POST', path, json_body=json_body, **kwargs)

    def put(self, path, json_body=None, **kwargs):
        return self.request('PUT', path, json_body=json_body, **kwargs)

    def patch(self, path, json_body=None, **kwargs):
        return self.request('PATCH', path, json_body=json_body, **kwargs)

    def delete(self, path, json_body=None, **kwargs):
        return self.request('DELETE', path, json_body=json_body, **kwargs)


def _decode(response):
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _short(exc, limit=200):
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + '...'


def _never_sent(exc):
    """True when the request certainly never reached the server (safe to repeat any method)."""
    if isinstance(exc, requests_exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests_exceptions.ConnectionError):
        text = repr(exc)
        return 'NewConnectionError' in text or 'Connection refused' in text or 'NameResolutionError' in text
    return False
