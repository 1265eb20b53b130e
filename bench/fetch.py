# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What fetch.yml costs over a plain rsync, measured on a local sshd "machine".

  (a) ansible-playbook nanochat.remote_gpu.fetch of a finished run's results (a 256 MiB model, the
      tokenizer, evals, log, state) into an empty folder: throughput = bytes / wall time; the
      copy step alone (the rsync inside it, as the play reports it) beside it
  (b) plain rsync of the same files over the same SSH alias into another empty folder
  (c) the no-op rerun of (a) (0 changed expected)
  (d) ansible -m ping against the same machine
  (e) (a) and (b) again over an emulated link (rsync --bwlimit, default 25 MiB/s, about 200 Mbit/s):
      loopback copies in a second what a real network takes minutes for, so it shows the fixed
      cost of fetch.yml at its largest

and prints a/b as throughput (goal >= 0.9) and c/d (goal <= 3). Needs root (a test user, sshd).

    .venv/bin/python bench/fetch.py [--size-mb 256] [--link-mib-s 25]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.conftest import COLLECTIONS_ROOT  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.sshd import Machine  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)
COPIED_RE = re.compile(r'copied in ([\d.]+) s\)')
RECAP_RE = re.compile(r'^\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)

SETUP = r"""
set -euo pipefail
base=$HOME/.cache/nanochat
mkdir -p ~/.nanochat-speedrun $base/chatsft_checkpoints/d24 $base/tokenizer $base/base_eval
head -c {size}M /dev/urandom > $base/chatsft_checkpoints/d24/model_000700.pt
echo '{{"step": 700}}' > $base/chatsft_checkpoints/d24/meta_000700.json
head -c 2M /dev/urandom > $base/tokenizer/tokenizer.pkl
echo 'Task,Accuracy' > $base/base_eval/base_model_000020.csv
echo 'log' > ~/.nanochat-speedrun/speedrun.log
printf 'version=1\nrun_id=bench\nlaunched_at=1\nstarted_at=1\nbase_dir=%s\nfinished_at=2\nexit_code=0\n' "$base" > ~/.nanochat-speedrun/state
"""


def timed(command, env, cwd):
    start = time.monotonic()
    proc = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit('%s failed:\n%s' % (command[:2], proc.stdout[-3000:]))
    return took, proc.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--size-mb', type=int, default=256)
    parser.add_argument('--link-mib-s', type=int, default=25)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='nrg-bench-fetch-')
    machine = Machine.start(os.path.join(work, 'm'), gpus=1)
    try:
        machine.ssh(SETUP.format(size=args.size_mb))
        config = os.path.join(work, 'ssh_config')
        with open(config, 'w') as handle:
            handle.write('Host %s\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n'
                         '  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n'
                         % (machine.name, machine.host, machine.port, machine.user, machine.key_path, machine.known_hosts_path))
        inventory = os.path.join(work, 'inventory.json')
        with open(inventory, 'w') as handle:
            json.dump({'nanochat': {'hosts': {machine.name: machine.inventory_vars()}}}, handle)
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith('ANSIBLE_'))
        env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_HOME=os.path.join(work, 'ah'),
                   ANSIBLE_PYTHON_INTERPRETER='auto_silent')
        base = machine.path('.cache', 'nanochat')
        files = sorted(os.path.relpath(os.path.join(d, f), base) for d, _dirs, fs in os.walk(base) for f in fs)
        total = sum(os.path.getsize(os.path.join(base, f)) for f in files) + sum(
            os.path.getsize(machine.path('.nanochat-speedrun', n)) for n in ('speedrun.log', 'state'))
        ssh = 'ssh -o BatchMode=yes -F %s' % config

        def fetch(dest, *options):
            command = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, 'nanochat.remote_gpu.fetch', '-e', 'fetch_dest=' + dest,
                       '-e', 'fetch_ssh_config_file=' + config, '-e', 'fetch_reserve_mb=0',
                       '-e', json.dumps(dict(fetch_rsync_options=list(options)))]
            took, out = timed(command, env, work)
            copied = COPIED_RE.search(' '.join(out.split()))
            return took, (float(copied.group(1)) if copied else None), out

        def plain_rsync(dest, *options):
            os.makedirs(os.path.join(dest, 'run'))
            start = time.monotonic()
            for source, target, names in (('%s:%s/' % (machine.name, base), dest + '/', files),
                                          ('%s:.nanochat-speedrun/' % machine.name, dest + '/run/', ['speedrun.log', 'state'])):
                subprocess.run(['rsync', '-a', '--partial', '-e', ssh] + list(options) + ['--files-from=-', source, target],
                               input='\n'.join(names) + '\n', text=True, check=True)
            return time.monotonic() - start

        mb = total / 1048576.0
        a, a_copy, _out = fetch(os.path.join(work, 'a'))
        b = plain_rsync(os.path.join(work, 'b'))
        c, _copy, out = fetch(os.path.join(work, 'a'))
        changed = RECAP_RE.search(out).group(1)
        d, _out = timed([os.path.join(BIN, 'ansible'), '-i', inventory, 'all', '-m', 'ansible.builtin.ping'], env, work)
        limit = '--bwlimit=%dm' % args.link_mib_s
        e_a, e_copy, _out = fetch(os.path.join(work, 'ea'), limit)
        e_b = plain_rsync(os.path.join(work, 'eb'), limit)
        print('fetch.py: %.0f MiB (%d files + log and state) over %s' % (mb, len(files), machine.name))
        print('  loopback:')
        print('  (a) fetch.yml            %6.2f s  %7.1f MiB/s   its copy step %6.2f s  %7.1f MiB/s' % (a, mb / a, a_copy, mb / a_copy))
        print('  (b) plain rsync          %6.2f s  %7.1f MiB/s' % (b, mb / b))
        print('  throughput a/b = %.2f (goal >= 0.9); copy step alone %.2f; fixed cost of fetch.yml %.1f s' % (b / a, b / a_copy, a - b))
        print('  (c) no-op rerun          %6.2f s  (changed=%s)' % (c, changed))
        print('  (d) ansible -m ping      %6.2f s' % d)
        print('  c/d = %.2f (goal <= 3)' % (c / d))
        print('  (e) emulated link of %d MiB/s (%s on both):' % (args.link_mib_s, limit))
        print('      fetch.yml            %6.2f s  %7.1f MiB/s   its copy step %6.2f s  %7.1f MiB/s' % (e_a, mb / e_a, e_copy, mb / e_copy))
        print('      plain rsync          %6.2f s  %7.1f MiB/s' % (e_b, mb / e_b))
        print('  throughput over the link = %.2f (goal >= 0.9); copy step alone %.2f' % (e_b / e_a, e_b / e_copy))
    finally:
        machine.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
