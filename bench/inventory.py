# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the gpu_instances inventory plugin against the three fake provider APIs.

    .venv/bin/python bench/inventory.py [--per-provider 100] [--runs 5]

Seeds 300 instances (100 per provider by default) into the RunPod, Lambda Cloud and Vast.ai
fakes (in this process), then times the real ``ansible-inventory --list`` (a subprocess, the way
a user runs it) and prints:

- the median wall time of N runs for an empty inventory, for the plugin with no instances, for
  300 instances without cache, and for 300 instances answered from a fresh cache;
- the ratio "300 instances, no cache" / "empty inventory" (goal <= 2), and how much of the
  300-instance time is spent waiting on provider rate limits (Vast.ai lists 25 instances a page
  and allows one list request a second; measured from the fake's arrival times);
- the API requests of a first run (cache empty; goal: one list per provider, plus Vast.ai's
  pages) and of a second run (cache fresh; goal: none).

It exits 0 and prints PASS or MISS for each goal. The fakes keep their default rate limits
(RunPod's per-minute quota, Lambda's one request a second, Vast.ai's per-endpoint intervals).
Runs are 1.2 s apart so that one run's pacing does not delay the next (the pacing state is shared
between processes, as for real users).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests.fakes.lambda_cloud import FakeLambda  # noqa: E402  pylint: disable=wrong-import-position
from tests.fakes.runpod import FakeRunPod  # noqa: E402  pylint: disable=wrong-import-position
from tests.fakes.vastai import FakeVast, default_offers  # noqa: E402  pylint: disable=wrong-import-position

PLUGIN = 'nanochat.remote_gpu.gpu_instances'
PROVIDERS = ('runpod', 'lambda', 'vastai')
LABELS = {'runpod': 'RunPod', 'lambda': 'Lambda Cloud', 'vastai': 'Vast.ai'}
KEYS = {'runpod': 'bench-runpod-key-1', 'lambda': 'bench-lambda-key-1', 'vastai': 'bench-vast-key-1'}
ENV = {'runpod': ('RUNPOD_API_KEY', 'RUNPOD_API_URL'), 'lambda': ('LAMBDA_API_KEY', 'LAMBDA_API_URL'),
       'vastai': ('VAST_API_KEY', 'VAST_API_URL')}
LIST_PATHS = {'runpod': '/v2/pods', 'lambda': '/api/v1/instances', 'vastai': '/api/v1/instances/'}
PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE8lZCIs9rSPJ9bsTvPKFtW6ek2UrrqsnBJLzWZx0vAV bench@example'
GAP = 1.2
GOAL_RATIO = 2.0


def collections_root(work):
    """ansible_collections/nanochat/remote_gpu -> this checkout, for ANSIBLE_COLLECTIONS_PATH."""
    parent = os.path.join(work, 'collections', 'ansible_collections', 'nanochat')
    os.makedirs(parent)
    os.symlink(REPO, os.path.join(parent, 'remote_gpu'))
    return os.path.join(work, 'collections')


class Clouds(object):
    def __init__(self):
        self.fakes = {
            'runpod': FakeRunPod(api_key=KEYS['runpod'], boot_delay=3600),
            'lambda': FakeLambda(api_key=KEYS['lambda'], boot_delay=3600),
            'vastai': FakeVast(api_key=KEYS['vastai'], boot_delay=3600),
        }
        for fake in self.fakes.values():
            fake.start()

    def seed(self, per_provider):
        """``per_provider`` instances in each fake, one in ten still booting (no SSH endpoint)."""
        offers = [o['id'] for o in default_offers() if not o['rented']]
        for index in range(per_provider):
            ready = index % 10 != 9
            name = 'nanochat-%s-%03d' % (provider_short('runpod'), index)
            self.fakes['runpod'].seed_pod(dict(name=name, gpu=dict(id='NVIDIA H100 80GB HBM3', count=8),
                                               ports=['22/tcp'], env=dict(PUBLIC_KEY=PUBLIC_KEY)), ready=ready)
            self.fakes['lambda'].seed_instance('nanochat-%s-%03d' % (provider_short('lambda'), index),
                                               instance_type='gpu_8x_h100_sxm5', status='active' if ready else 'booting')
            self.fakes['vastai'].seed_instance('nanochat-%s-%03d' % (provider_short('vastai'), index),
                                               offer_id=offers[index % len(offers)], state='running' if ready else 'loading')

    def env(self):
        env = {}
        for provider in PROVIDERS:
            env[ENV[provider][0]] = KEYS[provider]
            env[ENV[provider][1]] = self.fakes[provider].url
        return env

    def clear(self):
        for fake in self.fakes.values():
            with fake.lock:
                del fake.calls[:]

    def calls(self):
        return dict((p, list(self.fakes[p].calls)) for p in PROVIDERS)

    def stop(self):
        for fake in self.fakes.values():
            fake.stop()


def provider_short(provider):
    return {'runpod': 'rp', 'lambda': 'la', 'vastai': 'va'}[provider]


def write(path, text):
    with open(path, 'w') as handle:
        handle.write(text)
    return path


class Runner(object):
    def __init__(self, work, clouds_env):
        self.work = work
        self.env = dict(os.environ)
        for names in ENV.values():
            for name in names:
                self.env.pop(name, None)
        pace = os.path.join(work, 'pace')
        os.makedirs(pace)
        self.env.update(clouds_env)
        self.env.update(ANSIBLE_COLLECTIONS_PATH=collections_root(work), TMPDIR=pace, HOME=work,
                        ANSIBLE_LOCAL_TEMP=os.path.join(work, 'ansible-tmp'), ANSIBLE_NOCOLOR='1',
                        ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED='true')
        self.binary = os.path.join(os.path.dirname(sys.executable), 'ansible-inventory')

    def run(self, source, *args):
        started = time.monotonic()
        result = subprocess.run([self.binary, '-i', source, '--list'] + list(args), cwd=self.work, env=self.env,
                                capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            raise SystemExit('ansible-inventory -i %s failed (rc %d):\n%s' % (source, result.returncode, result.stderr))
        hosts = json.loads(result.stdout).get('_meta', {}).get('hostvars', {})
        return elapsed, hosts

    def timed(self, source, runs, before=None):
        """Median of ``runs`` runs, GAP seconds apart; ``before()`` runs (untimed) before each."""
        times, hosts = [], None
        for _run in range(runs):
            time.sleep(GAP)
            if before is not None:
                before()
            elapsed, hosts = self.run(source)
            times.append(elapsed)
        return statistics.median(times), hosts, times


def vast_wait(calls):
    """Seconds between the first and the last Vast.ai list page of one run (fake arrival times)."""
    pages = [c for c in calls if c['path'] == LIST_PATHS['vastai']]
    return (pages[-1]['time'] - pages[0]['time']) if len(pages) > 1 else 0.0, len(pages)


def describe_requests(calls):
    parts = []
    for provider in PROVIDERS:
        listed = [c for c in calls[provider] if c['path'] == LIST_PATHS[provider] and c['method'] == 'GET']
        other = len(calls[provider]) - len(listed)
        text = '%s %d' % (provider, len(listed))
        if provider == 'vastai' and len(listed) > 1:
            text += ' (1 list, %d pages)' % len(listed)
        if other:
            text += ' +%d other' % other
        refused = [c for c in calls[provider] if c['status'] != 200]
        if refused:
            text += ' [%d answered %s]' % (len(refused), ','.join(sorted(set(str(c['status']) for c in refused))))
        parts.append(text)
    return ', '.join(parts)


def one_refresh_each(calls, vast_pages):
    """True when each provider got exactly one list (Vast.ai: its pages, one without a token), all 200."""
    for provider in PROVIDERS:
        got = calls[provider]
        if any(c['status'] != 200 or c['method'] != 'GET' or c['path'] != LIST_PATHS[provider] for c in got):
            return False
        if provider == 'vastai':
            first_pages = [c for c in got if 'after_token' not in c['query']]
            if len(got) != vast_pages or len(first_pages) != 1:
                return False
        elif len(got) != 1:
            return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--per-provider', type=int, default=100, help='instances in each fake (default 100)')
    parser.add_argument('--runs', type=int, default=5, help='timed runs per case; the median is reported (default 5)')
    args = parser.parse_args(argv)
    total = 3 * args.per_provider
    vast_pages = max(1, -(-args.per_provider // 25))

    work = tempfile.mkdtemp(prefix='nanochat-bench-inventory-')
    empty_clouds, clouds = Clouds(), Clouds()
    try:
        clouds.seed(args.per_provider)
        empty = write(os.path.join(work, 'empty.yml'), '---\nall: {}\n')
        config = 'plugin: %s\nproviders: [runpod, lambda, vastai]\n' % PLUGIN
        plain = write(os.path.join(work, 'bench.gpu_instances.yml'), config)
        cached = write(os.path.join(work, 'cached.gpu_instances.yml'), config + (
            'cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\ncache_timeout: 3600\n'
            % os.path.join(work, 'cache')))
        runner = Runner(work, clouds.env())
        os.makedirs(os.path.join(work, 'empty-clouds'))
        empty_runner = Runner(os.path.join(work, 'empty-clouds'), empty_clouds.env())

        per = args.per_provider
        print('bench/inventory.py: %d instances (%d RunPod, %d Lambda Cloud, %d Vast.ai; one in ten still booting), '
              'ansible-inventory --list, median of %d runs' % (total, per, per, per, args.runs))
        runner.run(empty)  # warm the file system caches once (untimed)

        t_empty, hosts, times_empty = runner.timed(empty, args.runs)
        assert not hosts
        t_zero, hosts, _times = empty_runner.timed(plain, args.runs)
        assert not hosts

        waits = []

        def before_plain():
            if clouds.fakes['vastai'].calls:
                waits.append(vast_wait(clouds.fakes['vastai'].calls)[0])
            clouds.clear()

        t_full, hosts, times_full = runner.timed(plain, args.runs, before_plain)
        before_plain()
        if len(hosts) != total:
            raise SystemExit('expected %d hosts, got %d' % (total, len(hosts)))
        wait = statistics.median(waits)

        # Cache: the first run lists (cache empty), the next ones answer from the cache.
        time.sleep(GAP)
        clouds.clear()
        runner.run(cached)
        cold_calls = clouds.calls()
        clouds.clear()
        t_cached, hosts, _times = runner.timed(cached, args.runs)
        warm_calls = clouds.calls()
        if len(hosts) != total:
            raise SystemExit('expected %d hosts from the cache, got %d' % (total, len(hosts)))

        ratio = t_full / t_empty
        ratio_without_wait = (t_full - wait) / t_empty
        rows = [
            ('empty inventory (no hosts)', t_empty, ''),
            ('gpu_instances, 3 providers, 0 instances', t_zero, ''),
            ('gpu_instances, %d instances, no cache' % total, t_full,
             'of which %.2f s from the first to the last Vast.ai list page (%d pages, 1 request/s)' % (wait, vast_pages)),
            ('gpu_instances, %d instances, fresh cache' % total, t_cached, ''),
        ]
        print()
        for label, seconds, note in rows:
            print('  %-44s %6.2f s%s' % (label, seconds, ('   ' + note) if note else ''))
        print('  (all runs, empty: %s; %d instances: %s)' % (
            ' '.join('%.2f' % t for t in times_empty), total, ' '.join('%.2f' % t for t in times_full)))
        print()
        print('time %d instances / empty inventory: %.2f   goal <= %.0f: %s' % (
            total, ratio, GOAL_RATIO, 'PASS' if ratio <= GOAL_RATIO else 'MISS'))
        print('  without the Vast.ai list pacing (%.2f s subtracted): %.2f (for information)' % (wait, ratio_without_wait))
        print('  with a fresh cache: %.2f (for information)' % (t_cached / t_empty))
        cold_ok = one_refresh_each(cold_calls, vast_pages)
        warm_count = sum(len(c) for c in warm_calls.values())
        print('API requests, first run (cache empty):     %s   goal 1 per provider: %s'
              % (describe_requests(cold_calls), 'PASS' if cold_ok else 'MISS'))
        print('API requests, %d runs with a fresh cache:   %s   goal 0: %s'
              % (args.runs, describe_requests(warm_calls), 'PASS' if warm_count == 0 else 'MISS'))
        errors = [e for f in list(clouds.fakes.values()) + list(empty_clouds.fakes.values()) for e in f.internal_errors]
        if errors:
            print('internal errors in the fakes:\n%s' % '\n'.join(errors))
    finally:
        clouds.stop()
        empty_clouds.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
