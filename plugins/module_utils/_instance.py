# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The normalized instance every module and the inventory plugin return, and the wait loop.

Normalized instance keys (see the README, "Normalized instance"):
provider, id, name, status, provider_status, ssh_host, ssh_port, ssh_user, gpu_type,
gpu_count, price_per_hour, region, raw.
"""

from __future__ import annotations

import re
import time

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._progress import write_progress

STATUSES = ('pending', 'running', 'stopped', 'terminated', 'failed')

INSTANCE_KEYS = ('provider', 'id', 'name', 'status', 'provider_status', 'ssh_host', 'ssh_port', 'ssh_user',
                 'gpu_type', 'gpu_count', 'price_per_hour', 'region', 'raw')

# How often a wait loop asks the provider for the instance. One second keeps the delay between
# "SSH endpoint known" and "module returns" under two seconds, and stays within every
# provider's documented rate limit (Lambda: one request per second; the client paces anyway).
DEFAULT_POLL_INTERVAL = 1.0


REDACTED = '********'

# Keys whose values are secrets wherever they appear in a provider object (RunPod echoes the
# pod's env, Vast.ai and Lambda return Jupyter tokens, Vast a per-instance API key).
_SECRET_KEY = re.compile(r'(token|passw|secret|api[_-]?key|apikey|private[_-]?key|credential)', re.IGNORECASE)
_TOKEN_IN_URL = re.compile(r'((?:token|key|password)=)[^&#\s]+', re.IGNORECASE)


def scrub_secrets(value):
    """A copy of a provider object with secret values replaced by ``********``.

    Used on every ``raw`` object before it can reach module output, inventory hostvars or a
    cache file. Environment lists of ``[key, value]`` pairs (Vast.ai ``extra_env``) are covered.
    """
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if isinstance(key, str) and _SECRET_KEY.search(key) and isinstance(item, str) and item:
                result[key] = REDACTED
            else:
                result[key] = scrub_secrets(item)
        return result
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)
                    and _SECRET_KEY.search(item[0]) and isinstance(item[1], str) and item[1]):
                items.append([item[0], REDACTED])
            else:
                items.append(scrub_secrets(item))
        return items
    if isinstance(value, str) and '=' in value:
        return _TOKEN_IN_URL.sub(lambda m: m.group(1) + REDACTED, value)
    return value


def make_instance(provider, id, name, status, provider_status, ssh_host=None, ssh_port=None, ssh_user=None,
                  gpu_type=None, gpu_count=None, price_per_hour=None, region=None, raw=None):
    """Build a normalized instance; ``status`` must be one of STATUSES; secrets in ``raw`` are scrubbed."""
    if status not in STATUSES:
        raise ValueError('status %r is not one of %s' % (status, ', '.join(STATUSES)))
    return dict(
        provider=provider,
        id=None if id is None else str(id),
        name=name,
        status=status,
        provider_status=provider_status,
        ssh_host=ssh_host or None,
        ssh_port=int(ssh_port) if ssh_port not in (None, '') else None,
        ssh_user=ssh_user,
        gpu_type=gpu_type,
        gpu_count=int(gpu_count) if gpu_count not in (None, '') else None,
        price_per_hour=float(price_per_hour) if price_per_hour not in (None, '') else None,
        region=region,
        raw=scrub_secrets(raw) if raw is not None else {},
    )


DIFF_KEYS = ('name', 'status', 'gpu_type', 'gpu_count', 'region', 'price_per_hour', 'ssh_host', 'ssh_port')


def diff_view(instance):
    """What ``--diff`` shows of an instance: the fields a user decides on, never ``raw``."""
    if not instance:
        return {'state': 'absent'}
    view = dict((k, instance.get(k)) for k in DIFF_KEYS)
    view['state'] = 'present'
    return view


def ssh_ready(instance):
    """True once the provider reports the instance running with a known SSH endpoint."""
    return bool(instance and instance.get('status') == 'running' and instance.get('ssh_host')
                and instance.get('ssh_port'))


def describe_status(instance):
    """A short human text of the last status seen, for failure messages."""
    if not instance:
        return 'not found'
    text = '%s (provider status %r)' % (instance.get('status'), instance.get('provider_status'))
    if instance.get('status') == 'running' and not ssh_ready(instance):
        text += ', no SSH endpoint yet'
    return text


class WaitTimeout(Exception):
    """The instance did not reach the wanted state in time; ``last`` is the last one seen."""

    def __init__(self, message, last=None, waited=None):
        super(WaitTimeout, self).__init__(message)
        self.last = last
        self.waited = waited


class WaitFailed(Exception):
    """The instance reached a state from which the wanted one cannot come."""

    def __init__(self, message, last=None):
        super(WaitFailed, self).__init__(message)
        self.last = last


_NOT_GIVEN = object()


def wait_for(fetch, ready, timeout, what='the instance', failed=None, interval=None,
             clock=time.monotonic, sleep=time.sleep, first=_NOT_GIVEN, progress_file=None):
    """Call ``fetch()`` until ``ready(result)``; a monotonic deadline bounds the wait.

    ``failed(result)`` returning a text stops the wait early with WaitFailed. On timeout the
    WaitTimeout carries the last result seen. ``first`` is an observation already in hand (the
    answer of a create): it is checked instead of a first fetch, so a wait that starts right
    after a create does not ask again at once. Otherwise the first fetch happens at once. The
    loop never sleeps past the deadline. ``progress_file``: after each observation that is not
    ready, what is awaited, the last status and the time waited go there (module_utils/_progress),
    for the module's action plugin to print.
    """
    if interval is None:
        interval = DEFAULT_POLL_INTERVAL
    start = clock()
    deadline = start + max(0.0, float(timeout))
    while True:
        if first is not _NOT_GIVEN:
            last, first = first, _NOT_GIVEN
        else:
            last = fetch()
        if ready(last):
            return last
        if failed is not None:
            reason = failed(last)
            if reason:
                raise WaitFailed(reason, last=last)
        now = clock()
        write_progress(progress_file, what, describe_status(last) if isinstance(last, dict) or last is None else str(last),
                       now - start, timeout)
        if now >= deadline:
            raise WaitTimeout('timed out after %ss waiting for %s; last status seen: %s'
                              % (_seconds(now - start), what, describe_status(last) if isinstance(last, dict) or last is None else last),
                              last=last, waited=now - start)
        sleep(min(interval, deadline - now))


def _seconds(value):
    return '%d' % round(value)
