# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Ansible adds to bootstrapping a speedrun, measured on local sshd "machines".

  (a) ansible-playbook nanochat.remote_gpu.speedrun against a fresh user (uv, checkout, sync, launch)
  (b) a plain bash script doing the same steps over one ssh connection, on another fresh user
  (c) the no-op rerun of (a) once its run has finished (0 changed expected)
  (d) ansible -m ping against the same machine

and prints a-b (what the user pays for Ansible; goal <= 5 s: on a real machine the downloads
dominate both), a/b, and c/d (goal <= 3). Ansible runs as a user would run the collection: by
FQCN, from a directory without an ansible.cfg, so only the playbook's own defaults apply
(pipelining, and the ControlPersist of Ansible's default ssh_args). Needs root (test users, sshd).

    .venv/bin/python bench/bootstrap.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.conftest import COLLECTIONS_ROOT  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.fixture_repo import GitServer, build_fixture_repo  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.sshd import Machine  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)
RECAP_RE = re.compile(r'^\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)

# The same steps as the roles, as a careful person would type them (uv from the package index, as in (a):
# pip downloads the wheel, its binaries are unpacked).
PLAIN_SCRIPT = r"""
set -euo pipefail
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader,nounits
df -Pk "$HOME"
mkdir -p "$HOME/.local/bin" "$HOME/dl"
python3 -m pip download --disable-pip-version-check --no-input --quiet --no-deps --only-binary=:all: --dest "$HOME/dl" uv
python3 - <<'UNPACK'
import glob, os, zipfile
wheel = zipfile.ZipFile(glob.glob(os.path.expanduser('~/dl/uv-*.whl'))[0])
for name in wheel.namelist():
    if '.data/scripts/' in name:
        open(os.path.expanduser('~/.local/bin/' + name.rsplit('/', 1)[1]), 'wb').write(wheel.read(name))
UNPACK
chmod 755 "$HOME/.local/bin/uv" "$HOME/.local/bin/uvx"
rm -rf "$HOME/dl"
sed -i '1i export PATH="$HOME/.local/bin:$PATH"' "$HOME/.bashrc"
export PATH="$HOME/.local/bin:$PATH"
git clone -q {url} "$HOME/nanochat"
git -C "$HOME/nanochat" checkout -q {pin}
cd "$HOME/nanochat"
UV_PYTHON_DOWNLOADS=never uv sync --extra gpu --locked
.venv/bin/python -c 'import torch; assert torch.cuda.device_count() == 8'
mkdir -p "$HOME/.cache/nanochat" "$HOME/run"
{{ echo 'set -euo pipefail'
  sed -e 's|^export NANOCHAT_BASE_DIR=.*|export NANOCHAT_BASE_DIR="$HOME/.cache/nanochat"|' runs/speedrun.sh; }} > "$HOME/run/speedrun.sh"
tmux new-session -d -s nanochat-speedrun "WANDB_RUN=dummy bash $HOME/run/speedrun.sh 2>&1 | tee $HOME/run/speedrun.log"
"""


def timed(command, **kwargs):
    start = time.monotonic()
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False, **kwargs)
    return time.monotonic() - start, proc


def check(proc, what):
    if proc.returncode != 0:
        sys.exit('%s failed (rc=%d):\n%s\n%s' % (what, proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))


def wait_for_end(machine, timeout=120.0):
    state = machine.path('.nanochat-speedrun', 'state')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(state) and 'exit_code=' in open(state).read():
            return
        time.sleep(0.05)
    sys.exit('the run of %s did not end within %.0fs' % (machine.name, timeout))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeat', type=int, default=3,
                        help='runs of each measurement (fresh machines for (a) and (b)); medians are printed')
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix='nrg-bench-')
    git_root = os.path.join(work, 'git')
    os.makedirs(git_root)
    os.chmod(work, 0o755)
    os.chmod(git_root, 0o755)
    info = build_fixture_repo(git_root)
    server = GitServer(git_root).start()
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('ANSIBLE_'))
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR='1',
               ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(work, 'cp'), ANSIBLE_HOME=os.path.join(work, 'ansible-home'))
    machines = []

    def fresh_machine():
        machine = Machine.start(os.path.join(work, 'private'))
        machines.append(machine)
        return machine

    def inventory_for(machine, name):
        host_vars = dict(machine.inventory_vars(), uv_install_method='pip', nanochat_uv_python_downloads='never',
                         nanochat_repo_url=server.url(), nanochat_version=info['tag_commit'])
        path = os.path.join(work, 'inventory-%s.json' % name)
        with open(path, 'w') as handle:
            json.dump({'nanochat': {'hosts': {'gpu': host_vars}}}, handle)
        return path

    try:
        a_times, b_times = [], []
        script = PLAIN_SCRIPT.format(url=shlex.quote(server.url()), pin=shlex.quote(info['tag_commit']))
        for attempt in range(args.repeat):
            ansible_machine, plain_machine = fresh_machine(), fresh_machine()
            inventory = inventory_for(ansible_machine, 'a%d' % attempt)
            playbook = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, 'nanochat.remote_gpu.speedrun']
            # alternate the order: both download from the package index, whose speed drifts
            for which in (('a', 'b') if attempt % 2 == 0 else ('b', 'a')):
                if which == 'a':
                    elapsed, proc = timed(playbook, cwd=work, env=env)
                    check(proc, '(a) speedrun.yml')
                    a_times.append(elapsed)
                else:
                    elapsed, proc = timed(plain_machine.ssh_command('bash -s'), input=script)
                    check(proc, '(b) the plain script')
                    b_times.append(elapsed)
            wait_for_end(ansible_machine)
            if attempt < args.repeat - 1:
                ansible_machine.destroy()
                plain_machine.destroy()
        a, b = statistics.median(a_times), statistics.median(b_times)

        c_times, changed = [], []
        for dummy in range(args.repeat):
            c, proc = timed(playbook, cwd=work, env=env)
            check(proc, '(c) the no-op rerun')
            recap = RECAP_RE.search(proc.stdout)
            changed.append(int(recap.group(1)))
            c_times.append(c)
        d_times = []
        for dummy in range(args.repeat):
            d, proc = timed([os.path.join(BIN, 'ansible'), 'gpu', '-i', inventory, '-m', 'ansible.builtin.ping'],
                            cwd=work, env=env)
            check(proc, '(d) ansible -m ping')
            d_times.append(d)
        c, d = statistics.median(c_times), statistics.median(d_times)
        print('nanochat.remote_gpu bootstrap benchmark (local sshd, fixture nanochat, pip-installed uv, %d CPUs)'
              % os.cpu_count())
        print('(a) speedrun.yml, fresh user            %6.2f s   (median of %d)' % (a, args.repeat))
        print('(b) plain bash script over one ssh      %6.2f s   (median of %d)' % (b, args.repeat))
        print('    overhead a-b                        %6.2f s   (goal <= 5 s)' % (a - b))
        print('    ratio a/b                           %6.2f' % (a / b))
        print('(c) no-op rerun                         %6.2f s   (median of %d) changed=%s'
              % (c, args.repeat, ','.join(map(str, changed))))
        print('(d) ansible -m ping                     %6.2f s   (median of %d)' % (d, args.repeat))
        print('    ratio c/d                           %6.2f     (goal <= 3, with 0 changed)' % (c / d))
        return 0 if all(n == 0 for n in changed) else 1
    finally:
        for machine in machines:
            machine.destroy()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
