# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The project's fault matrix over the three providers, and what it costs when things go wrong.

Module cases (tests/support/faultcases.py, each through the real module's main() against its
strict fake): creates whose answer comes after the client's read timeout while the effect
lands (at once, or only after a delay, as slow providers do), 5xx after effect, resets and
closes after effect, 5xx and resets before effect, 429 with and without Retry-After, no
capacity, stuck boots, a refused key; terminates that meet one 500 (before or after effect),
a reset after effect, three 503s, or keep failing; and Vast.ai's create-failed-with-new_contract,
OCI runtime failure and auth_error under a 404.

Playbook cases (--playbooks, on by default): provision.yml with bad input (names, timeouts,
disk, GPU type, Lambda region, key pair halves) against the simulated cloud; each must fail
before any write reaches the fake.

Prints one line:
  cases N, duplicates D, leaks L, writes before a validation failure W, messages lacking
  provider/cause/next step M (goal 0 for D, L, W and M)
plus one line per case that missed, naming it.

Usage: python bench/faults.py [--no-playbooks] [--provider runpod ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import tests.conftest  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

from tests.support import faultcases  # noqa: E402  pylint: disable=wrong-import-position

LABELS = {'runpod': 'RunPod', 'lambda': 'Lambda Cloud', 'vastai': 'Vast.ai'}
PLAYBOOK_CASES = [
    ('runpod', dict(instance_name='bad name; rm -rf ~')),
    ('runpod', dict(ssh_timeout=-1)),
    ('runpod', dict(wait_timeout='soon')),
    ('runpod', dict(runpod_container_disk_gb=-10)),
    ('runpod', dict(gpu='H999:8')),
    ('lambda', dict(lambda_regions=['mars-north-1'])),
    ('lambda', dict(wait_timeout=-5)),
    ('vastai', dict(vastai_disk_gb=-1)),
    ('vastai', dict(gpu='H100:0')),
]


def failure_line(output):
    for line in reversed(output.splitlines()):
        if line.startswith('[ERROR]: '):
            text = line[len('[ERROR]: '):]
            for prefix in ('Task failed: Action failed: ', 'Task failed: Module failed: ', 'Task failed: '):
                if text.startswith(prefix):
                    return text[len(prefix):]
            return text
    return ''


def run_playbook_case(provider, extra, root):
    from tests.support.simcloud import SimCloud
    from tests.integration.conftest import COLLECTIONS_ROOT
    cloud = SimCloud(provider, os.path.join(root, '%s-%d' % (provider, len(os.listdir(root)))), boot_delay=1.0).start()
    home = tempfile.mkdtemp(prefix='home-', dir=root)
    try:
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'RUNPOD_', 'LAMBDA_', 'VAST_')))
        env.update(cloud.env, HOME=home, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR='1',
                   ANSIBLE_HOME=os.path.join(home, '.ansible'), ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'))
        args = dict(provider=provider, instance_name='nanochat-faults', ssh_timeout=60)
        args.update(extra)
        command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'),
                   os.path.join(REPO, 'playbooks', 'provision.yml')]
        import json
        path = os.path.join(home, 'vars.json')
        with open(path, 'w') as handle:
            json.dump(args, handle)
        command += ['-e', '@' + path]
        proc = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=300, check=False)
        writes = len(cloud.fake.writes())
        return proc.returncode, failure_line(proc.stdout + proc.stderr), writes
    finally:
        cloud.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--no-playbooks', action='store_true', help='only the module cases')
    parser.add_argument('--provider', action='append', choices=sorted(faultcases.PROVIDERS))
    options = parser.parse_args()
    providers = options.provider or list(faultcases.PROVIDERS)

    started = time.monotonic()
    cases = duplicates = leaks = writes_before = bad_messages = 0
    misses = []
    for kind, provider, case in faultcases.all_cases():
        if provider not in providers:
            continue
        cases += 1
        try:
            outcome = faultcases.run_case(kind, provider, case)
        except Exception as exc:  # pylint: disable=broad-except
            misses.append('%s %s "%s": the case itself broke: %s' % (provider, kind, case[0], exc))
            continue
        duplicates += int(outcome.duplicate)
        leaks += int(outcome.leak)
        bad_messages += int(bool(outcome.message_problems))
        if not outcome.ok:
            misses.append('%s %s "%s": %s' % (provider, kind, case[0], '; '.join(filter(None, [
                'duplicate' if outcome.duplicate else '', 'leak' if outcome.leak else '',
                ('message lacks %s' % ', '.join(outcome.message_problems)) if outcome.message_problems else '',
                'unexpected outcome: %s' % (outcome.result.get('msg') or 'success') if not outcome.expect(outcome) else '']))))

    if not options.no_playbooks:
        root = tempfile.mkdtemp(prefix='nrg-faults-')
        os.chmod(root, 0o755)
        try:
            for provider, extra in PLAYBOOK_CASES:
                if provider not in providers:
                    continue
                cases += 1
                rc, line, writes = run_playbook_case(provider, extra, root)
                writes_before += int(writes > 0)
                problems = faultcases.message_problems(provider, line)
                bad_messages += int(bool(problems))
                if rc == 0 or writes or problems:
                    misses.append('%s provision.yml %s: rc %s, %d write(s), message %r%s' % (
                        provider, extra, rc, writes, line[:200], (' lacks %s' % ', '.join(problems)) if problems else ''))
        finally:
            shutil.rmtree(root, ignore_errors=True)

    print('faults: cases %d, duplicates %d, leaks %d, writes before a validation failure %d, messages lacking '
          'provider/cause/next step %d (goal 0 for the four counts; %.0f s)'
          % (cases, duplicates, leaks, writes_before, bad_messages, time.monotonic() - started))
    for miss in misses:
        print('  miss: %s' % miss)
    return 0


if __name__ == '__main__':
    sys.exit(main())
