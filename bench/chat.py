# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long until you can chat: chat.yml on a local sshd "machine" with the fixture's model.

  (a) from the start of ansible-playbook nanochat.remote_gpu.chat to the first answer of
      POST /chat/completions through the SSH tunnel (the LocalForward the ssh_config role wrote):
      the first start (uv downloads fastapi/uvicorn for the overlay unless its cache has them),
      then with a warm uv cache (the server stopped in between)
  (b) the rerun while it serves (a no-op: 0 changed expected)

The fixture's chat_web.py stand-in loads its "model" instantly: on a real GPU machine loading the
checkpoint adds tens of seconds to (a). Needs root (test users, sshd).

    .venv/bin/python bench/chat.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.conftest import COLLECTIONS_ROOT  # noqa: E402  pylint: disable=wrong-import-position
from tests.integration.test_chat import Client, free_port  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.fixture_repo import GitServer, build_fixture_repo  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.sshd import Machine  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)
RECAP_RE = re.compile(r'^\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


def run(command, what, **kwargs):
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        sys.exit('%s failed (rc=%d):\n%s\n%s' % (what, proc.returncode, proc.stdout[-4000:], proc.stderr[-2000:]))
    return proc


def first_answer(port, deadline):
    """POST /chat/completions until the first streamed token arrives; returns it."""
    body = json.dumps({'messages': [{'role': 'user', 'content': 'Why is the sky blue?'}]}).encode()
    while True:
        try:
            request = urllib.request.Request('http://127.0.0.1:%d/chat/completions' % port, data=body,
                                             headers={'Content-Type': 'application/json'})
            with urllib.request.urlopen(request, timeout=10) as response:
                for raw in response:
                    line = raw.decode().strip()
                    if line.startswith('data: ') and 'token' in line:
                        return json.loads(line[6:])['token']
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeat', type=int, default=3, help='warm starts and reruns to measure; medians are printed')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='nrg-bench-chat-')
    os.chmod(work, 0o755)
    git_root = os.path.join(work, 'git')
    os.makedirs(git_root, mode=0o755)
    info = build_fixture_repo(git_root)
    server = GitServer(git_root).start()
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('ANSIBLE_'))
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR='1',
               ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(work, 'cp'), ANSIBLE_HOME=os.path.join(work, 'ansible-home'))
    machine = None
    try:
        machine = Machine.start(os.path.join(work, 'private'))
        client = Client(os.path.join(work, 'client'), machine, free_port(), free_port())
        client.write_ssh_config(types.SimpleNamespace(env=env))
        host_vars = dict(machine.inventory_vars(), uv_install_method='pip', nanochat_uv_python_downloads='never',
                         nanochat_repo_url=server.url(), nanochat_version=info['tag_commit'],
                         chat_port=client.remote_port, chat_ssh_config=client.config)
        inventory = os.path.join(work, 'inventory.json')
        with open(inventory, 'w') as handle:
            json.dump({'nanochat': {'hosts': {machine.name: host_vars}}}, handle)

        def play(name, *extra):
            return [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, 'nanochat.remote_gpu.' + name] + list(extra)

        run(play('speedrun'), 'speedrun.yml', cwd=work, env=env)
        state = machine.path('.nanochat-speedrun', 'state')
        deadline = time.monotonic() + 120
        while not (os.path.exists(state) and 'exit_code=0' in open(state).read()):
            if time.monotonic() > deadline:
                sys.exit('the fixture run did not finish')
            time.sleep(0.1)

        starts, reruns, changed = [], [], []
        for attempt in range(args.repeat + 1):
            start = time.monotonic()
            run(play('chat'), 'chat.yml', cwd=work, env=env)
            tunnel = subprocess.Popen(['ssh', '-F', client.config, '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes',
                                       '-N', machine.name], stderr=subprocess.DEVNULL)
            try:
                first_answer(client.local_port, time.monotonic() + 30)
                starts.append(time.monotonic() - start)
            finally:
                tunnel.terminate()
                tunnel.wait(timeout=10)
            rerun_start = time.monotonic()
            proc = run(play('chat'), 'chat.yml (rerun)', cwd=work, env=env)
            reruns.append(time.monotonic() - rerun_start)
            changed.append(int(RECAP_RE.search(proc.stdout).group(1)))
            run(play('chat', '-e', 'chat_state=stopped'), 'chat.yml stopped', cwd=work, env=env)
        print('nanochat.remote_gpu chat benchmark (local sshd, fixture chat_web.py stand-in, %d CPUs)' % os.cpu_count())
        print('(a) chat.yml start -> first answer through the tunnel, first start   %6.2f s' % starts[0])
        print('(a) the same, warm uv cache                                          %6.2f s   (median of %d)'
              % (statistics.median(starts[1:]), args.repeat))
        print('(b) chat.yml rerun while it serves (no-op)                           %6.2f s   (median of %d) changed=%s'
              % (statistics.median(reruns), len(reruns), ','.join(map(str, changed))))
        return 0 if all(n == 0 for n in changed) else 1
    finally:
        if machine is not None:
            machine.destroy()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
