# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``make demo``: the whole flow of the collection against a simulated cloud on this machine.

provision.yml -> ssh with the generated config -> the gpu_instances inventory -> speedrun.yml ->
status.yml -> chat.yml (a question through the tunnel) -> teardown.yml, with the real playbooks, roles, modules and inventory plugin, against:

- a strict local fake of the provider's API (tests/fakes), whose instances are real sshd processes
  on 127.0.0.1 with their own Unix users and homes (tests/support/simcloud.py);
- the fixture nanochat repository (tests/fixtures/nanochat: nanochat's layout, a speedrun of a few
  seconds) served by ``git daemon`` on 127.0.0.1, and a fake nvidia-smi reporting 8 H100s.

Your own ~/.ssh is not touched: the "laptop" side (HOME, ~/.ssh, Ansible's files) lives in the
demo folder too. Everything is removed at the end (``--keep`` keeps the folder for a look; the
machines' users are deleted either way). Needs root (it creates Unix users and runs sshd).

    python -m tests.support.demo [--provider runpod|lambda|vastai] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests.conftest import COLLECTIONS_ROOT  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.fixture_repo import GitServer, build_fixture_repo  # noqa: E402  pylint: disable=wrong-import-position
from tests.support.simcloud import SimCloud  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)
INSTANCE = 'nanochat-demo'
LABELS = {'runpod': 'RunPod', 'lambda': 'Lambda Cloud', 'vastai': 'Vast.ai'}


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def say(text=''):
    print(text, flush=True)


def step(number, total, text):
    say()
    say('=' * 100)
    say('[%d/%d] %s' % (number, total, text))
    say('=' * 100)


class Demo(object):
    def __init__(self, provider, folder):
        self.provider = provider
        self.folder = folder
        self.home = os.path.join(folder, 'laptop-home')
        os.makedirs(self.home, mode=0o700)
        self.cloud = None
        self.git = None
        self.env = None

    def run(self, command, check=True):
        say('$ ' + ' '.join(shlex.quote(c) for c in command))
        proc = subprocess.run(command, cwd=REPO, env=self.env, check=False)
        if check and proc.returncode != 0:
            raise SystemExit('demo: the command above failed (exit %d)' % proc.returncode)
        return proc.returncode

    def capture(self, command):
        say('$ ' + ' '.join(shlex.quote(c) for c in command))
        proc = subprocess.run(command, cwd=REPO, env=self.env, check=False, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        say(proc.stdout.rstrip())
        return proc

    def start(self):
        git_root = os.path.join(self.folder, 'git')
        os.makedirs(git_root)
        os.chmod(self.folder, 0o755)
        os.chmod(git_root, 0o755)
        repo = build_fixture_repo(git_root)
        self.git = GitServer(git_root).start()
        self.cloud = SimCloud(self.provider, os.path.join(self.folder, 'cloud'), boot_delay=3.0).start()
        self.env = dict(os.environ, HOME=self.home, ANSIBLE_HOME=os.path.join(self.home, '.ansible'),
                        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_FORCE_COLOR='0',
                        PATH=BIN + os.pathsep + os.environ.get('PATH', ''), **self.cloud.env)
        self.env.pop('ANSIBLE_CONFIG', None)
        # What a simulated machine needs that a real one does not: uv from PyPI (astral.sh and
        # github.com are unreachable here), the system Python, and the fixture repository.
        self.speedrun_vars = os.path.join(self.folder, 'speedrun-vars.json')
        with open(self.speedrun_vars, 'w') as handle:
            json.dump(dict(uv_install_method='pip', nanochat_uv_python_downloads='never',
                           nanochat_repo_url=self.git.url(), nanochat_version=repo['tag_commit']), handle, indent=2)
        self.inventory = os.path.join(self.folder, '%s.gpu_instances.yml' % self.provider)
        # OpenSSH takes its default keys from the passwd home, not from $HOME: name the key.
        lines = ['plugin: nanochat.remote_gpu.gpu_instances', 'providers: [%s]' % self.provider,
                 'ssh_private_key_file: %s' % os.path.join(self.home, '.ssh', 'id_ed25519')]
        if self.cloud.ssh_user(INSTANCE):
            lines.append('ssh_user: %s' % self.cloud.ssh_user(INSTANCE))
        with open(self.inventory, 'w') as handle:
            handle.write('\n'.join(lines) + '\n')
        shown = ', '.join('%s=%s' % (k, '********' if k.endswith('KEY') else v) for k, v in sorted(self.cloud.env.items()))
        say('fake %s API:  %s   (%s)' % (LABELS[self.provider], self.cloud.url, shown))
        say('fixture repo:  %s (pinned at %s)' % (self.git.url(), repo['tag_commit'][:12]))
        say('laptop HOME:   %s' % self.home)

    def play(self, playbook, *args, check=True):
        return self.run([os.path.join(BIN, 'ansible-playbook'), os.path.join('playbooks', playbook)] + list(args),
                        check=check)

    def fetch(self):
        results = os.path.join(self.folder, 'results')
        self.play('fetch.yml', '-i', self.inventory, '-e', 'fetch_dest=%s' % results, '-e', 'fetch_reserve_mb=0')
        self.run(['bash', '-c', 'cd %s && sha256sum -c MANIFEST.sha256' % shlex.quote(results)])

    def main(self):
        total = 8
        started = time.monotonic()
        provider_args = ['-e', 'provider=%s' % self.provider, '-e', 'instance_name=%s' % INSTANCE]
        # the machines share this computer's network: the chat tunnel's two ends need two free ports
        self.chat_ports = [free_port(), free_port()]
        forwards = ['-e', json.dumps(dict(local_forwards=['%d:%d' % tuple(self.chat_ports)]))]
        ssh_user = self.cloud.ssh_user(INSTANCE)
        if ssh_user:
            provider_args += ['-e', 'ssh_user=%s' % ssh_user]

        step(1, total, 'provision.yml --check: the price, and what would be created (nothing is)')
        self.play('provision.yml', '--check', *provider_args, *forwards)

        step(2, total, 'provision.yml: register the key, show the price, create the instance, wait until SSH '
                       'accepts the key, write the SSH config')
        self.play('provision.yml', *provider_args, *forwards)

        step(3, total, 'ssh %s, with the SSH config the play wrote (host key pinned)' % INSTANCE)
        config = os.path.join(self.home, '.ssh', 'config')
        say(open(config).read().rstrip())
        say(open(os.path.join(self.home, '.ssh', 'nanochat_remote_gpu.conf')).read().rstrip())
        self.run(['ssh', '-F', config, '-o', 'BatchMode=yes', INSTANCE, 'echo "logged in as $(id -un)"; nvidia-smi -L'])

        step(4, total, 'The gpu_instances inventory: the instance is a host of group "nanochat"')
        say(open(self.inventory).read().rstrip())
        self.run([os.path.join(BIN, 'ansible-inventory'), '-i', self.inventory, '--graph'])

        step(5, total, 'speedrun.yml: uv, nanochat (checked, cloned, synced), the speedrun in tmux, exactly once')
        self.play('speedrun.yml', '-i', self.inventory, '-e', '@' + self.speedrun_vars)
        say('Again: nothing changes, no second run starts')
        self.play('speedrun.yml', '-i', self.inventory, '-e', '@' + self.speedrun_vars)

        step(6, total, 'status.yml until the run has finished')
        deadline = time.monotonic() + 300
        while True:
            machine = self.cloud.machine(INSTANCE)
            state = os.path.join(machine.home, '.nanochat-speedrun', 'state')
            done = os.path.exists(state) and 'exit_code=' in open(state).read()
            if done or time.monotonic() > deadline:
                break
            time.sleep(1)
        self.play('status.yml', '-i', self.inventory)

        self.chat(config)

        step(7, total, 'fetch.yml: the results home over the SSH alias, verified against a manifest made on the machine')
        self.fetch()

        step(8, total, 'teardown.yml: checks the results were fetched, terminates, says what the instance cost')
        self.play('teardown.yml', *provider_args)
        say('The fake %s API now lists %d instance(s); SSH files mentioning %s: %s' % (
            LABELS[self.provider], len(self.live_instances()), INSTANCE, self.ssh_mentions() or 'none'))
        say()
        say('Demo finished in %.0f s: provisioned, connected, trained (simulated), watched, chatted with, '
            'results brought home and verified, billing ended on a simulated %s.' % (time.monotonic() - started, LABELS[self.provider]))

    def chat(self, config):
        """chat.yml, then a question to the model through the tunnel (the SSH config's LocalForward)."""
        say()
        say('chat.yml: the chat web UI on 127.0.0.1:%d of the machine, checked through the tunnel; then a question' % self.chat_ports[1])
        self.play('chat.yml', '-i', self.inventory, '-e', '@' + self.speedrun_vars, '-e', 'chat_ssh_config=' + config,
                  '-e', 'chat_port=%d' % self.chat_ports[1])
        tunnel = subprocess.Popen(['ssh', '-F', config, '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', '-N', INSTANCE])
        try:
            self.run(['curl', '-s', '--retry', '20', '--retry-connrefused', '--retry-delay', '1', '-N', '-H',
                      'Content-Type: application/json', '-d', '{"messages": [{"role": "user", "content": "Why is the sky blue?"}]}',
                      'http://127.0.0.1:%d/chat/completions' % self.chat_ports[0]])
        finally:
            tunnel.terminate()
            tunnel.wait(timeout=10)
        self.play('chat.yml', '-i', self.inventory, '-e', 'chat_state=stopped')

    def live_instances(self):
        """Instances the provider still lists, through the collection's own adapter."""
        from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import make_client  # pylint: disable=import-outside-toplevel
        from ansible_collections.nanochat.remote_gpu.plugins.inventory.gpu_instances import adapter_for  # pylint: disable=import-outside-toplevel
        client = make_client(self.provider, self.cloud.api_key, self.cloud.url)
        return [i for i in adapter_for(self.provider, client).list_instances() if i['status'] != 'terminated']

    def ssh_mentions(self):
        """SSH files that still have the instance's Host block or pinned host key."""
        found = []
        for name, prefix in (('nanochat_remote_gpu.conf', 'Host %s' % INSTANCE),
                             ('nanochat_remote_gpu_known_hosts', '%s ' % INSTANCE)):
            path = os.path.join(self.home, '.ssh', name)
            if os.path.exists(path) and any(line.startswith(prefix) for line in open(path).read().splitlines()):
                found.append(path)
        return ', '.join(found)

    def close(self):
        if self.cloud is not None:
            self.cloud.close()
        if self.git is not None:
            self.git.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m tests.support.demo', description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--provider', choices=sorted(LABELS), default=os.environ.get('PROVIDER', 'runpod'))
    parser.add_argument('--keep', action='store_true', help='keep the demo folder (the machines are removed anyway)')
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit('demo: run it as root (it creates throwaway Unix users and runs sshd); e.g. sudo make demo')
    folder = tempfile.mkdtemp(prefix='nrg-demo-')
    say('nanochat.remote_gpu demo on a simulated %s; everything lives in %s' % (LABELS[args.provider], folder))
    demo = Demo(args.provider, folder)
    try:
        demo.start()
        demo.main()
    finally:
        demo.close()
        if args.keep:
            say('Kept %s' % folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
            say('Removed %s and the simulated machines.' % folder)
    return 0


if __name__ == '__main__':
    sys.exit(main())
