# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How fast an instance module notices SSH readiness, and how hard it polls while waiting.

For each provider, a strict local fake (with its documented rate limits switched on) boots the
instance in BOOT_DELAY seconds; the real module (runpod_pod, lambda_instance, vastai_instance)
runs in-process through its main() with wait=true. Printed per provider:

- ready->return: seconds from the moment the fake made the SSH endpoint available
  (create time + boot delay) to the module returning.           goal <= 2 s
- polls while waiting (the read the wait loop repeats) and their average rate from the create
  to the return.                                                     goal <= 1 / s on average
  "other calls" are the module's other requests after the create (Vast.ai: attaching the key).
- the shortest gap between any two calls and the 429s the fake answered: never above the
  provider's rate limit means zero 429s (the fakes enforce the documented limits).

Each run shifts the boot delay by a fraction of a second (+0, +0.45, +0.9 s, ...) so that
readiness falls at different points between two polls; the worst run is what counts.

Usage: python bench/api_wait.py [--boot-delay 6] [--runs 3] [--provider runpod ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# tests.conftest puts the checkout on sys.path as ansible_collections.nanochat.remote_gpu.
import tests.conftest  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

from ansible.module_utils.testing import patch_module_args  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.nanochat.remote_gpu.plugins.modules import (  # noqa: E402  pylint: disable=wrong-import-position
    lambda_instance,
    runpod_pod,
    vastai_instance,
)
from tests.fakes.lambda_cloud import FakeLambda  # noqa: E402  pylint: disable=wrong-import-position
from tests.fakes.runpod import FakeRunPod  # noqa: E402  pylint: disable=wrong-import-position
from tests.fakes.vastai import FakeVast  # noqa: E402  pylint: disable=wrong-import-position

KEY = 'bench-api-key'
# The read each module's wait loop repeats (RunPod: the pod; Lambda: the instance; Vast.ai: the
# v1 list filtered by id).
POLL_PATHS = {
    'runpod': re.compile(r'^/v2/pods/[^/]+$'),
    'lambda': re.compile(r'^/api/v1/instances/[0-9a-f]+$'),
    'vastai': re.compile(r'^/api/v1/instances/?$'),
}
RATE_LIMIT_PER_SECOND = {'runpod': 1.0, 'lambda': 1.0, 'vastai': 1.0}  # the goal: <= 1 call/s on average


def public_key():
    path = os.path.join(tempfile.mkdtemp(prefix='bench-key-'), 'id')
    subprocess.check_call(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', path])
    with open(path + '.pub') as handle:
        return handle.read().strip()


def setup(provider, boot_delay, pub):
    """A fake with its default (documented) rate limits, and the module arguments."""
    if provider == 'runpod':
        fake = FakeRunPod(api_key=KEY, boot_delay=boot_delay).start()
        return fake, runpod_pod, dict(name='bench', gpu_type='NVIDIA H100 80GB HBM3', gpu_count=8, ssh_public_key=pub)
    if provider == 'lambda':
        fake = FakeLambda(api_key=KEY, boot_delay=boot_delay).start()
        fake.add_ssh_key('bench', pub)
        fake.set_capacity('gpu_8x_h100_sxm5', ['us-east-1'])
        return fake, lambda_instance, dict(name='bench', instance_type='gpu_8x_h100_sxm5', region=['us-east-1'],
                                           ssh_key_name='bench')
    fake = FakeVast(api_key=KEY, boot_delay=boot_delay).start()
    return fake, vastai_instance, dict(name='bench', gpu_name='H100 SXM', num_gpus=8, ssh_public_key=pub)


def run_module(module, args):
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
    return json.loads(out.getvalue())


def measure(provider, boot_delay, pub):
    fake, module, args = setup(provider, boot_delay, pub)
    try:
        args.update(api_key=KEY, api_url=fake.url, wait=True, wait_timeout=int(boot_delay * 10 + 60))
        result = run_module(module, args)
        returned = time.monotonic()
        if result.get('failed') or not result.get('changed'):
            raise RuntimeError('%s: the module did not create the instance: %s' % (provider, result.get('msg')))
        calls = list(fake.calls)
        creates = [c for c in calls if c['method'] in ('POST', 'PUT') and c['status'] in (200, 201)
                   and any(p in c['path'] for p in ('/v2/pods', '/instance-operations/launch', '/asks/'))]
        created = creates[0]['time']
        ready_at = created + boot_delay
        after_create = [c for c in calls if c['time'] > created]
        polls = [c for c in after_create if c['method'] == 'GET' and POLL_PATHS[provider].match(c['path'])]
        times = [c['time'] for c in calls]
        gaps = [b - a for a, b in zip(times, times[1:])]
        return dict(
            ready_to_return=returned - ready_at,
            wait_seconds=returned - created,
            wait_calls=len(polls),
            other_calls=len(after_create) - len(polls),
            wait_rate=len(polls) / max(returned - created, 1e-9),
            min_gap=min(gaps) if gaps else None,
            total_calls=len(calls),
            throttled=sum(1 for c in calls if c['status'] == 429),
            internal_errors=len(fake.internal_errors),
        )
    finally:
        fake.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--boot-delay', type=float, default=6.0)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--provider', action='append', choices=['runpod', 'lambda', 'vastai'])
    args = parser.parse_args(argv)
    providers = args.provider or ['runpod', 'lambda', 'vastai']
    pub = public_key()
    print('api_wait: boot delay %.1f s (+ a fraction per run), %d run(s) per provider, real module code, fakes with documented rate limits'
          % (args.boot_delay, args.runs))
    header = ('provider', 'ready->return', 'wait s', 'polls', 'polls/s avg', 'other calls', 'min gap s', '429s')
    print('%-8s %14s %8s %7s %12s %12s %10s %6s' % header)
    verdicts = []
    for provider in providers:
        # Readiness lands at a different point between two polls in each run (+0.0, +0.45, +0.9 s ...),
        # so the worst case of "ready -> return" shows up.
        runs = [measure(provider, args.boot_delay + (0.45 * i) % 1.0, pub) for i in range(args.runs)]
        worst = max(r['ready_to_return'] for r in runs)
        rate = max(r['wait_rate'] for r in runs)
        gap = min(r['min_gap'] for r in runs if r['min_gap'] is not None)
        throttled = sum(r['throttled'] for r in runs)
        for r in runs:
            print('%-8s %14.2f %8.1f %7d %12.2f %12d %10.2f %6d'
                  % (provider, r['ready_to_return'], r['wait_seconds'], r['wait_calls'], r['wait_rate'], r['other_calls'],
                     r['min_gap'], r['throttled']))
        verdicts.append((provider, worst, rate, gap, throttled))
    print()
    for provider, worst, rate, gap, throttled in verdicts:
        print('%-8s ready->return worst %.2f s (goal <= 2 s): %s; polls while waiting %.2f/s (goal <= %.1f/s): %s; '
              'shortest gap %.2f s, 429s %d (goal 0): %s'
              % (provider, worst, 'PASS' if worst <= 2.0 else 'MISS', rate, RATE_LIMIT_PER_SECOND[provider],
                 'PASS' if rate <= RATE_LIMIT_PER_SECOND[provider] else 'MISS', gap, throttled,
                 'PASS' if throttled == 0 else 'MISS'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
