# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provision and bootstrap 1, then 8, simulated instances; print how much longer 8 take.

Against the simulated cloud (a strict fake of the RunPod API with its default rate limits, whose
instances are real sshd machines on 127.0.0.1, tests/support/simcloud.py):

1. ``provision.yml`` on a fleet inventory of N instance names (``-f N``): key, price, create,
   SSH readiness, SSH config, for all N in parallel;
2. ``speedrun.yml`` through the gpu_instances inventory (``-f N``): uv, nanochat (clone, sync),
   the speedrun launched in tmux.

Printed: the seconds of each step for N=1 and N=8, and the ratio of the totals (goal <= 1.5), plus
the 429s the fake answered. Everything is torn down at the end. Needs root (sshd machines).

Two things limit the ratio here that a real fleet does not share: the simulated machines run on
this host's CPUs (8 machines installing uv and syncing at once share its cores, where real
instances bring their own), and the fake enforces RunPod's quota per minute (the spec's example,
60; ``--quota-per-minute`` changes it) over every instance's requests together.

Usage: python bench/fanout.py [--count 8] [--boot-delay 3] [--quota-per-minute 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.conftest import COLLECTIONS_ROOT  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.fixture_repo import GitServer, build_fixture_repo  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.simcloud import SimCloud  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)


def play(env, *args):
    started = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook')] + list(args), cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)
    took = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit('fanout: %s failed:\n%s' % (' '.join(args[:1]), proc.stdout[-4000:]))
    return took


def run(count, root, git, pin, boot_delay, quota):
    work = tempfile.mkdtemp(prefix='fan%d-' % count, dir=root)
    os.chmod(work, 0o755)
    home = os.path.join(work, 'home')
    os.makedirs(home, mode=0o700)
    cloud = SimCloud('runpod', os.path.join(work, 'cloud'), boot_delay=boot_delay,
                     rate_limits={'minute': quota, 'hour': max(quota * 50, 3000), 'day': max(quota * 800, 50000)}).start()
    try:
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith('ANSIBLE_'))
        env.update(cloud.env, HOME=home, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_HOME=os.path.join(home, '.ansible'),
                   ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'), ANSIBLE_FORKS=str(max(count, 5)))
        names = ['nanochat-fan-%d' % i for i in range(1, count + 1)]
        fleet = os.path.join(work, 'fleet.json')
        with open(fleet, 'w') as handle:
            json.dump({'fleet': {'hosts': dict((n, {}) for n in names),
                                 'vars': {'ansible_connection': 'local',
                                          'ansible_python_interpreter': sys.executable}}}, handle)
        inventory = os.path.join(work, 'runpod.gpu_instances.yml')
        with open(inventory, 'w') as handle:
            handle.write('plugin: nanochat.remote_gpu.gpu_instances\nproviders: [runpod]\nssh_private_key_file: %s\n'
                         % os.path.join(home, '.ssh', 'id_ed25519'))
        speedrun_vars = os.path.join(work, 'speedrun.json')
        with open(speedrun_vars, 'w') as handle:
            json.dump(dict(uv_install_method='pip', nanochat_uv_python_downloads='never', nanochat_repo_url=git,
                           nanochat_version=pin), handle)
        provision = play(env, 'playbooks/provision.yml', '-i', fleet, '-e', 'provision_hosts=fleet', '-e', 'provider=runpod')
        bootstrap = play(env, 'playbooks/speedrun.yml', '-i', inventory, '-e', '@' + speedrun_vars)
        throttled = sum(1 for c in cloud.fake.calls if c['status'] == 429)
        play(env, 'playbooks/teardown.yml', '-e', 'provider=runpod', '-e', 'all_instances=true', '-e', 'name_prefix=nanochat-fan-')
        return dict(provision=provision, bootstrap=bootstrap, total=provision + bootstrap, throttled=throttled)
    finally:
        cloud.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--count', type=int, default=8)
    parser.add_argument('--boot-delay', type=float, default=3.0)
    parser.add_argument('--quota-per-minute', type=int, default=60,
                        help="the fake RunPod's request quota per minute (default 60: the API spec's example)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit('fanout: needs root (it creates throwaway users and runs sshd)')
    root = tempfile.mkdtemp(prefix='nrg-fanout-')
    os.chmod(root, 0o755)
    git_root = os.path.join(root, 'git')
    os.makedirs(git_root)
    os.chmod(git_root, 0o755)
    repo = build_fixture_repo(git_root)
    server = GitServer(git_root).start()
    try:
        one = run(1, root, server.url(), repo['tag_commit'], args.boot_delay, args.quota_per_minute)
        many = run(args.count, root, server.url(), repo['tag_commit'], args.boot_delay, args.quota_per_minute)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print('fanout: simulated RunPod (boot delay %.1f s, %d requests/minute), provision.yml then speedrun.yml, '
          'forks = instances, %d CPU cores for the controller and every simulated machine'
          % (args.boot_delay, args.quota_per_minute, os.cpu_count()))
    print('%-10s %12s %12s %10s %6s' % ('instances', 'provision s', 'bootstrap s', 'total s', '429s'))
    for count, figures in ((1, one), (args.count, many)):
        print('%-10d %12.1f %12.1f %10.1f %6d'
              % (count, figures['provision'], figures['bootstrap'], figures['total'], figures['throttled']))
    ratio = many['total'] / one['total']
    print('ratio %d/1: %.2f (goal <= 1.5): %s' % (args.count, ratio, 'PASS' if ratio <= 1.5 else 'MISS'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
