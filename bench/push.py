# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nanochat_src's push costs on a rerun with one changed file, against rsync alone.

A working copy (the fixture nanochat with its git history, a local .venv and --files extra source
files, so it is about nanochat's size) is pushed once by the nanochat role to a local sshd
"machine". Then, with one file changed each time:

  (a) rsync alone, the same command line the role runs (filters, ssh alias), typed by hand
  (b) the role's push task in a rerun of the nanochat role (its duration from Ansible's junit
      callback: what the push step costs inside the play, Ansible's task overhead included)
  (c) the whole rerun of the nanochat role (machine check, push, sync check), for scale

and prints b/a (goal <= 2). Needs root (test users, sshd).

    .venv/bin/python bench/push.py [--repeat N] [--files N]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from xml.etree import ElementTree

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.conftest import COLLECTIONS_ROOT  # noqa: E402  pylint: disable=wrong-import-position
from tests.integration.test_chat import Client, free_port  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.fixture_repo import build_fixture_repo  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.sshd import Machine  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)
PLAY = """
- name: nanochat role only
  hosts: all
  gather_facts: false
  roles:
    - role: nanochat.remote_gpu.uv
    - role: nanochat.remote_gpu.nanochat
"""
EXCLUDES = ['/.venv/', '__pycache__/', '*.py[cod]', '*.egg-info/', '/build/', '/dist/', '/rustbpe/target/',
            '.pytest_cache/', '.ipynb_checkpoints/']


def run(command, what, **kwargs):
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        sys.exit('%s failed (rc=%d):\n%s\n%s' % (what, proc.returncode, proc.stdout[-4000:], proc.stderr[-2000:]))
    return proc


def push_task_seconds(junit_dir):
    """The duration of the push task ("Push the working copy ...") in the newest junit report."""
    newest = max(glob.glob(os.path.join(junit_dir, '*.xml')), key=os.path.getmtime)
    for case in ElementTree.parse(newest).iter('testcase'):
        if 'Push the working copy (nanochat_src) to ' in case.get('name', ''):
            return float(case.get('time'))
    sys.exit('no push task in %s' % newest)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeat', type=int, default=5, help='measurements of each; medians are printed')
    parser.add_argument('--files', type=int, default=300, help='extra source files in the working copy')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='nrg-bench-push-')
    os.chmod(work, 0o755)
    junit_dir = os.path.join(work, 'junit')
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'JUNIT_')))
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR='1',
               ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(work, 'cp'), ANSIBLE_HOME=os.path.join(work, 'ansible-home'),
               ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.junit', JUNIT_OUTPUT_DIR=junit_dir, JUNIT_TASK_CLASS='yes')
    machine = None
    try:
        info = build_fixture_repo(os.path.join(work, 'git'))
        src = os.path.join(work, 'src', 'nanochat')
        run(['git', 'clone', '-q', info['path'], src], 'git clone')
        for index in range(args.files):
            os.makedirs(os.path.join(src, 'extra', 'm%02d' % (index % 30)), exist_ok=True)
            with open(os.path.join(src, 'extra', 'm%02d' % (index % 30), 'f%04d.py' % index), 'w') as handle:
                handle.write('# source file %d\n' % index + 'x = 1\n' * 400)
        os.makedirs(os.path.join(src, '.venv', 'lib'))
        with open(os.path.join(src, '.venv', 'lib', 'big.bin'), 'wb') as handle:
            handle.write(os.urandom(20 * 1024 * 1024))  # never pushed
        machine = Machine.start(os.path.join(work, 'private'))
        client = Client(os.path.join(work, 'client'), machine, free_port(), free_port())
        client.write_ssh_config(types.SimpleNamespace(env=env))
        host_vars = dict(machine.inventory_vars(), uv_install_method='pip', nanochat_uv_python_downloads='never',
                         nanochat_src=src, nanochat_src_ssh_config=client.config)
        inventory = os.path.join(work, 'inventory.json')
        with open(inventory, 'w') as handle:
            json.dump({'all': {'hosts': {machine.name: host_vars}}}, handle)
        book = os.path.join(work, 'play.yml')
        with open(book, 'w') as handle:
            handle.write(PLAY)
        playbook = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, book]
        run(playbook, 'the first push', cwd=work, env=env)

        target = os.path.join(src, 'scripts', 'chat_eval.py')
        dest = machine.path('nanochat')
        rsync = ['rsync', '--archive', '--omit-dir-times', '--delete', '--itemize-changes',
                 '--rsh', 'ssh -F %s -o BatchMode=yes' % client.config,
                 '--filter=P /.nanochat-remote-gpu-push', '--filter=P /.git/nanochat-remote-gpu.run'] \
            + ['--exclude=' + e for e in EXCLUDES] + ['--filter=:- .gitignore', src + '/', '%s:%s/' % (machine.name, dest)]

        def change(counter):
            with open(target, 'a') as handle:
                handle.write('# change %d\n' % counter)

        alone, task, whole = [], [], []
        for attempt in range(args.repeat):
            change(2 * attempt)
            start = time.monotonic()
            proc = run(rsync, 'rsync alone')
            alone.append(time.monotonic() - start)
            assert proc.stdout.strip().endswith('scripts/chat_eval.py'), proc.stdout
            change(2 * attempt + 1)
            start = time.monotonic()
            proc = run(playbook, 'the rerun', cwd=work, env=env)
            whole.append(time.monotonic() - start)
            assert 'Pushed 1 change(s)' in proc.stdout, proc.stdout[-3000:]
            task.append(push_task_seconds(junit_dir))
        a, b, c = statistics.median(alone), statistics.median(task), statistics.median(whole)
        files = int(subprocess.run(['bash', '-c', 'cd %s && find . -path ./.venv -prune -o -type f -print | wc -l' % src],
                                   stdout=subprocess.PIPE, text=True, check=True).stdout)
        print('nanochat.remote_gpu push benchmark (local sshd, %d files in the working copy + a 20 MB .venv, %d CPUs)'
              % (files, os.cpu_count()))
        print('(a) rsync alone, one changed file           %6.2f s   (median of %d)' % (a, args.repeat))
        print('(b) the role\'s push task, one changed file  %6.2f s   (median of %d)' % (b, args.repeat))
        print('    ratio b/a                               %6.2f     (goal <= 2)' % (b / a))
        print('(c) the whole nanochat role rerun           %6.2f s   (median of %d)' % (c, args.repeat))
        print('    .venv on the machine has the local 20 MB file: %s'
              % os.path.exists(machine.path('nanochat', '.venv', 'lib', 'big.bin')))
        return 0
    finally:
        if machine is not None:
            machine.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
