# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two lifecycle steps where money is at stake, written once for every provider.

``settle_create``: a create whose outcome is unknown (5xx, read timeout, connection dropped
after sending, a 429 the provider may have acted on) may still land. The instance is looked up
by name for a bounded time, as long as the provider itself may take to finish a request it
accepted (``CREATE_SETTLE_SECONDS``: its gateway's request timeout, not our read timeout),
and no second create is ever sent meanwhile. When nothing shows up the truth is "unknown", not
"nothing": ``unknown_create_message`` says so and gives the command that finds and removes it.

``confirm_terminate``: terminating is idempotent. The terminate is retried with capped
exponential back-off on 5xx, 429 and lost connections; a 404 after a retry means the earlier
try took effect; then the instance is read back. The caller fails, naming the instance's id
and price, only when it is still alive after that (``TerminateFailed``).

Clock and sleep are module attributes, so that tests can make the waits instant.
"""

from __future__ import annotations

import time

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import PROVIDER_LABELS, ApiError

# How long a provider may still be working on a create after its answer was lost: the request
# timeout of its front end (RunPod and Vast.ai answer through Cloudflare, which ends an origin
# request after 100 s; Vast's own SDK waits 120 s for a create; Lambda's launch is synchronous
# behind a load balancer with the same order of timeout), plus the few seconds before a new
# instance shows in the provider's listing.
CREATE_SETTLE_SECONDS = {'runpod': 130.0, 'lambda': 130.0, 'vastai': 150.0}
# Between two lookups while settling (each lookup is one list request).
SETTLE_INTERVAL = 5.0
# Terminate: tries, and the back-off between them (seconds, doubled each try, capped).
TERMINATE_TRIES = 5
TERMINATE_BACKOFF = 2.0
TERMINATE_BACKOFF_CAP = 30.0
# Read-backs after the terminate was accepted, when the caller does not wait itself.
CONFIRM_READS = 3

clock = time.monotonic
sleep = time.sleep

# The command a user runs to find and remove an instance by name (the teardown playbook lists
# by name and terminates every instance with it).
TEARDOWN_COMMAND = ('ansible-playbook nanochat.remote_gpu.teardown -e provider=%s -e instance_name=%s')

CONSOLES = {
    'runpod': 'https://console.runpod.io/pods',
    'lambda': 'https://cloud.lambda.ai/instances',
    'vastai': 'https://cloud.vast.ai/instances/',
}


def label(provider):
    return PROVIDER_LABELS.get(provider, provider)


def teardown_command(provider, name):
    return TEARDOWN_COMMAND % (provider, _quote(name))


def _quote(text):
    text = str(text)
    if text and all(c.isalnum() or c in '._-' for c in text):
        return text
    return "'%s'" % text.replace("'", "'\"'\"'")


def is_auth_failure(err):
    """A refused key, whatever the status code (Vast.ai answers some with 404 ``auth_error``)."""
    return isinstance(err, ApiError) and (err.status in (401, 403) or err.code in (
        'auth_error', 'invalid_token', 'global/invalid-api-key', 'Unauthorized'))


def is_not_found(err):
    return isinstance(err, ApiError) and err.status == 404 and not is_auth_failure(err)


def _retryable(err):
    if is_auth_failure(err):
        return False
    if err.status is None:
        return True  # no answer: the connection dropped or timed out
    return err.status >= 500 or err.status in (408, 425, 429)


# --- the ambiguous create ---------------------------------------------------------------------

class Settled(object):
    """What the lookups after an unclear create saw: ``found`` (instances with the name),
    ``waited`` seconds, ``lookups`` made, ``lookup_error`` (the last failed lookup, if any)."""

    def __init__(self, found, waited, lookups, lookup_error):
        self.found = found
        self.waited = waited
        self.lookups = lookups
        self.lookup_error = lookup_error


def settle_create(provider, lookup, window=None, interval=None):
    """Look the name up (``lookup()`` -> list) until something shows or the provider's own
    timeout has passed. A failing lookup is no answer: it is retried until the deadline."""
    window = CREATE_SETTLE_SECONDS.get(provider, 150.0) if window is None else window
    interval = SETTLE_INTERVAL if interval is None else interval
    start = clock()
    deadline = start + max(0.0, window)
    lookups, error = 0, None
    while True:
        lookups += 1
        try:
            found = list(lookup() or [])
            error = None
        except ApiError as err:
            found, error = [], err
            if is_auth_failure(err):
                # The key was refused: looking longer cannot help; the outcome stays unknown.
                return Settled([], clock() - start, lookups, err)
        if found:
            return Settled(found, clock() - start, lookups, None)
        now = clock()
        if now >= deadline:
            return Settled([], now - start, lookups, error)
        sleep(min(interval, deadline - now))


def unknown_create_message(provider, name, err, settled, what='instance'):
    """The failure after an unclear create that never showed up: "unknown", and what to run."""
    parts = ['%s: the outcome of creating %s "%s" is UNKNOWN: the create request ended with %s, and no %s with '
             'that name appeared in %d lookup(s) over %ds (the time %s may take to finish a create).'
             % (label(provider), what, name, _short(err), what, settled.lookups, round(settled.waited),
                label(provider))]
    if settled.lookup_error is not None:
        parts.append('The last lookup failed too: %s.' % _short(settled.lookup_error))
    parts.append('It may still appear and bill. Find and remove it with: %s (or in %s); running the task again '
                 'looks the name up first and never creates a second one.'
                 % (teardown_command(provider, name), CONSOLES.get(provider, 'the provider console')))
    return ' '.join(parts)


def duplicate_message(provider, name, instances, what='instance'):
    return ('%s: %d %ss are named "%s" (ids %s) after a create with an unclear outcome. Keep one and remove the '
            'others (for example with %s, which removes all of them, then run again).'
            % (label(provider), len(instances), what, name, ', '.join(sorted(str(i.get('id')) for i in instances)),
               teardown_command(provider, name)))


def _short(err, limit=300):
    text = str(err).rstrip('.')
    return text if len(text) <= limit else text[:limit] + '...'


# --- the confirmed terminate ------------------------------------------------------------------

class TerminateFailed(Exception):
    """The instance is still alive after every try; ``last`` is the last view of it."""

    def __init__(self, message, last=None, error=None):
        super(TerminateFailed, self).__init__(message)
        self.last = last
        self.error = error


def backoff(attempt):
    return min(TERMINATE_BACKOFF_CAP, TERMINATE_BACKOFF * (2 ** (attempt - 1)))


def confirm_terminate(provider, instance, terminate, read, is_gone, what='instance', confirm=True):
    """Terminate ``instance`` (a normalized instance) and make sure it is gone or going.

    ``terminate()`` returns True when the provider accepted the request, False when it answered
    404 (unknown id); it raises ApiError otherwise. ``read()`` returns the instance (normalized)
    or None; ``is_gone(instance)`` says whether a read shows it gone or on its way out.

    Returns ``(changed, last)``: ``changed`` is False only when the very first try found the
    instance already gone. Raises TerminateFailed (id and price in the message) when it is still
    alive after the tries, and ApiError for a refusal that no retry can fix (a bad key, 403, 409).
    """
    ident = '%s "%s" (id %s)' % (what, instance.get('name'), instance.get('id'))
    price = instance.get('price_per_hour')
    last_error = None
    already_gone = False
    for round_ in range(2):
        accepted = False
        for attempt in range(1, TERMINATE_TRIES + 1):
            try:
                deleted = terminate()
            except ApiError as err:
                if not _retryable(err):
                    raise
                last_error = err
                if attempt < TERMINATE_TRIES:
                    sleep(err.retry_after if err.retry_after is not None and err.retry_after <= TERMINATE_BACKOFF_CAP
                          else backoff(attempt))
                continue
            # A 404 at the very first try: it was gone already. After a failed try: that try took effect.
            already_gone = not deleted and attempt == 1 and round_ == 0
            accepted = True
            break
        last = None
        reads = CONFIRM_READS if confirm else 1
        read_error = None
        for read_try in range(reads):
            try:
                last = read()
                read_error = None
            except ApiError as err:
                if not _retryable(err):
                    raise
                read_error = err
                last = instance
            if read_error is None and is_gone(last):
                return not already_gone, last
            if read_try + 1 < reads:
                sleep(backoff(read_try + 1))
        if read_error is not None:
            last_error = read_error
    raise TerminateFailed(
        '%s: %s is still alive after %d terminate tries%s and bills %s USD/h. Terminate it in %s, or run %s again.'
        % (label(provider), ident, TERMINATE_TRIES * 2,
           (' (last error: %s)' % _short(last_error)) if last_error is not None else '',
           price if price is not None else 'an unknown amount of', CONSOLES.get(provider, 'the provider console'),
           teardown_command(provider, instance.get('name') or instance.get('id'))),
        last=instance, error=last_error)
