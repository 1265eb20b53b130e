# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""chat.yml over real SSH: the fixture's chat_web.py stand-in (FastAPI + uvicorn, given to the
server process by ``uv run --with``) serves the checkpoint the fixture run wrote, on 127.0.0.1 of
the machine only; the client side talks to it through the LocalForward that the collection's
ssh_config role wrote. The tests share one machine and run in file order.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import socket
import subprocess
import urllib.request

import pytest

from tests.integration.conftest import (
    ANSIBLE_PLAYBOOK,
    gate_path,
    log_text,
    open_gate,
    wait_for_end,
    wait_until,
)

pytestmark = pytest.mark.integration

CHAT = 'nanochat.remote_gpu.chat'
SPEEDRUN = 'nanochat.remote_gpu.speedrun'
SSH_CONFIG_PLAY = """
- name: the SSH config provision.yml writes
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - nanochat.remote_gpu.ssh_config
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def other_addresses():
    """Addresses of this host (which the machines share) other than 127.0.0.1."""
    found = ['127.0.0.2']  # all of 127/8 is local; a socket bound to 127.0.0.1 refuses them
    out = subprocess.run(['ip', '-4', '-o', 'addr', 'show'], stdout=subprocess.PIPE, text=True, check=False).stdout
    for line in out.splitlines():
        address = line.split()[3].split('/')[0]
        if not address.startswith('127.'):
            found.append(address)
    return found


class Client(object):
    """The control node's side: the SSH config the collection writes, a tunnel, HTTP."""

    def __init__(self, work, machine, local_port, remote_port):
        self.work = work
        self.machine = machine
        self.local_port = local_port
        self.remote_port = remote_port
        self.config = os.path.join(work, 'ssh', 'config')
        os.makedirs(os.path.dirname(self.config), mode=0o700, exist_ok=True)

    def write_ssh_config(self, ansible):
        book = os.path.join(self.work, 'ssh-config.yml')
        with open(book, 'w') as handle:
            handle.write(SSH_CONFIG_PLAY)
        ssh_dir = os.path.dirname(self.config)
        variables = dict(
            ssh_config_file=os.path.join(ssh_dir, 'nanochat_remote_gpu.conf'),
            ssh_config_known_hosts_file=os.path.join(ssh_dir, 'known_hosts'), ssh_config_main_file=self.config,
            ssh_config_hosts=[dict(alias=self.machine.name, hostname=self.machine.host, port=self.machine.port,
                                   user=self.machine.user, host_key=self.machine.host_key,
                                   identity_file=self.machine.key_path,
                                   local_forwards=['%d:%d' % (self.local_port, self.remote_port)])])
        proc = subprocess.run([ANSIBLE_PLAYBOOK, book, '-e', json.dumps(variables)], cwd=self.work, env=ansible.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stdout
        text = open(variables['ssh_config_file']).read()
        assert 'LocalForward %d 127.0.0.1:%d' % (self.local_port, self.remote_port) in text, text

    def ssh(self, *args, timeout=60):
        return subprocess.run(['ssh', '-F', self.config, '-o', 'BatchMode=yes'] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout, check=False)

    def tunnel(self):
        return Tunnel(self)

    def get(self, path, port=None, host='127.0.0.1'):
        url = 'http://%s:%d%s' % (host, port or self.local_port, path)
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def chat(self, text):
        """POST /chat/completions through the tunnel; returns the streamed tokens joined."""
        body = json.dumps({'messages': [{'role': 'user', 'content': text}]}).encode()
        request = urllib.request.Request('http://127.0.0.1:%d/chat/completions' % self.local_port, data=body,
                                         headers={'Content-Type': 'application/json'})
        tokens, done = [], False
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers['Content-Type'].startswith('text/event-stream')
            for line in response.read().decode().splitlines():
                if line.startswith('data: '):
                    event = json.loads(line[6:])
                    done = done or event.get('done', False)
                    tokens.append(event.get('token', ''))
        assert done, tokens
        return ''.join(tokens)


class Tunnel(object):
    """``ssh -F config -N alias``: the written LocalForward, as a user opens it."""

    def __init__(self, client):
        self.client = client
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(['ssh', '-F', self.client.config, '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes',
                                      '-N', self.client.machine.name], stderr=subprocess.PIPE, text=True)

        def up():
            assert self.proc.poll() is None, self.proc.stderr.read()
            try:
                return self.client.get('/health')
            except OSError:
                return None
        wait_until(up, 30, 'the tunnel to answer')
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope='module')
def machine(machines):
    return machines(gpus=8)


@pytest.fixture(scope='module')
def client(ansible, machine, tmp_path_factory):
    local_port, remote_port = free_port(), free_port()
    while remote_port == local_port:
        remote_port = free_port()
    client = Client(str(tmp_path_factory.mktemp('chat-client')), machine, local_port, remote_port)
    client.write_ssh_config(ansible)
    return client


def chat_vars(ansible, machine, client, **extra):
    return ansible.host_vars(machine, chat_port=client.remote_port, chat_ssh_config=client.config,
                             nanochat_base_dir='~/volume/nanochat', **extra)


def session_alive(machine, name='nanochat-chat'):
    return machine.ssh('tmux has-session -t =%s' % name, check=False).returncode == 0


def server_cmdlines(machine):
    """The command lines of the machine's Python processes that run chat_web."""
    found = []
    for path in glob.glob('/proc/[0-9]*/cmdline'):
        try:
            if os.stat(path).st_uid != machine.uid:
                continue
            with open(path, 'rb') as handle:
                words = [w for w in handle.read().decode(errors='replace').split('\0') if w]
        except OSError:
            continue
        # the server's Python (not the uv launcher that runs it with the fastapi/uvicorn overlay)
        if words and os.path.basename(words[0]) != 'uv' and any('chat_web' in w for w in words):
            found.append(words)
    return found


def refused(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
    except ConnectionRefusedError:
        return True
    return False


def test_refused_while_the_speedrun_runs_and_no_model_yet(ansible, machine, client):
    gate = gate_path(machine, 'chat')
    inventory = chat_vars(ansible, machine, client, speedrun_env=dict(NANOCHAT_FAKE_PAUSE_AT_STEP='3',
                                                                      NANOCHAT_FAKE_PAUSE_FILE=gate))
    started = ansible.play(SPEEDRUN, machine, inventory)
    assert started.rc == 0, started
    wait_until(lambda: 'paused at step 3' in log_text(machine), 120, 'the run to pause')

    refused_play = ansible.play(CHAT, machine, inventory)
    assert refused_play.rc != 0, refused_play
    assert 'is still running in stage base_train on the GPUs' in refused_play.output
    assert 'set chat_force: true' in refused_play.output
    assert not session_alive(machine)

    # forced: past the refusal, but the run has written no chat model yet (SFT comes later)
    forced = ansible.play(CHAT, machine, dict(inventory, chat_force=True))
    assert forced.rc != 0, forced
    assert 'No chat model yet: no model in %s' % machine.path('volume/nanochat/chatsft_checkpoints') in forced.output
    assert "ssh -t %s 'cd %s && NANOCHAT_BASE_DIR=%s .venv/bin/python -m scripts.chat_cli -i sft'" % (
        machine.name, machine.path('nanochat'), machine.path('volume/nanochat')) in forced.output
    assert not session_alive(machine)

    open_gate(gate)
    assert wait_for_end(machine) == 0


def test_chat_starts_once_and_answers_through_the_tunnel(ansible, machine, client):
    inventory = chat_vars(ansible, machine, client)
    checked = ansible.play(CHAT, machine, inventory, check=True)
    assert checked.rc == 0, checked
    assert 'Check mode: would start the chat server' in checked.stdout
    assert not session_alive(machine)

    first = ansible.play(CHAT, machine, inventory)
    assert first.rc == 0, first
    assert first.changed(machine.name) == 1, first
    assert 'Chat server started on 127.0.0.1:%d of %s' % (client.remote_port, machine.name) in first.stdout
    assert 'checkout server' in first.stdout  # this pin has scripts/chat_web.py
    assert 'Open http://localhost:%d' % client.local_port in first.stdout
    assert 'Checked through the tunnel: {\\"status\\":\\"ok\\",\\"ready\\":true' in first.stdout, first.stdout
    assert session_alive(machine)
    assert len(server_cmdlines(machine)) == 1

    again = ansible.play(CHAT, machine, inventory)
    assert again.rc == 0, again
    assert again.changed(machine.name) == 0, again
    assert 'Chat server already running' in again.stdout
    assert len(server_cmdlines(machine)) == 1

    with client.tunnel():
        health = json.loads(client.get('/health'))
        assert health['status'] == 'ok' and health['ready'] is True and health['num_gpus'] == 1
        assert client.chat('hello there') == 'fixture sft model d24 step 5 answers: hello there'
        assert "const API_URL = '';" in client.get('/')

    # 127.0.0.1 only: the machine's other addresses refuse the port
    assert client.get('/health', port=client.remote_port)  # on the machine itself
    for address in other_addresses():
        assert refused(address, client.remote_port), address
    # the checkout and its environment were not changed for the server
    assert machine.ssh('git -C nanochat status --porcelain').stdout == ''
    assert not glob.glob(machine.path('nanochat/.venv/lib/python*/site-packages/fastapi'))


def test_other_settings_restart_it(ansible, machine, client):
    too_many = ansible.play(CHAT, machine, chat_vars(ansible, machine, client, chat_num_gpus=9))
    assert too_many.rc != 0, too_many
    assert 'chat_num_gpus is 9 but nvidia-smi lists 8 GPU(s)' in too_many.output
    assert len(server_cmdlines(machine)) == 1, 'the running server is left as it was'

    result = ansible.play(CHAT, machine, chat_vars(ansible, machine, client, chat_step='5', chat_model_tag='d24',
                                                   chat_num_gpus=2))
    assert result.rc == 0, result
    assert result.changed(machine.name) == 1
    assert 'Chat server restarted' in result.stdout
    words = server_cmdlines(machine)
    assert len(words) == 1 and words[0][-8:-2] == ['-n', '2', '-g', 'd24', '-s', '5'], words
    with client.tunnel():
        assert json.loads(client.get('/health'))['num_gpus'] == 2


def test_a_running_server_is_left_alone_while_a_new_run_holds_the_gpus(ansible, machine, client):
    gate = gate_path(machine, 'chat-again')
    running = chat_vars(ansible, machine, client, chat_step='5', chat_model_tag='d24', chat_num_gpus=2,
                        speedrun_env=dict(NANOCHAT_FAKE_PAUSE_AT_STEP='3', NANOCHAT_FAKE_PAUSE_FILE=gate))
    started = ansible.play(SPEEDRUN, machine, running, extra_vars=dict(speedrun_restart=True))
    assert started.rc == 0, started
    wait_until(lambda: 'paused at step 3' in log_text(machine), 120, 'the run to pause')
    try:
        same = ansible.play(CHAT, machine, running)
        assert same.rc == 0 and same.changed(machine.name) == 0, same
        assert 'Chat server already running' in same.stdout
        # other settings would restart it on the GPUs the run uses: refused
        other = ansible.play(CHAT, machine, chat_vars(ansible, machine, client))
        assert other.rc != 0, other
        assert 'is still running in stage base_train on the GPUs' in other.output
        assert len(server_cmdlines(machine)) == 1
    finally:
        open_gate(gate)
    assert wait_for_end(machine) == 0


def test_stopped(ansible, machine, client):
    inventory = chat_vars(ansible, machine, client, chat_state='stopped')
    stopped = ansible.play(CHAT, machine, inventory)
    assert stopped.rc == 0, stopped
    assert stopped.changed(machine.name) == 1
    assert 'Stopped the chat server' in stopped.stdout
    assert not session_alive(machine)
    wait_until(lambda: not server_cmdlines(machine), 20, 'the server process to end')
    assert refused('127.0.0.1', client.remote_port)
    again = ansible.play(CHAT, machine, inventory)
    assert again.rc == 0 and again.changed(machine.name) == 0, again
    assert 'No chat server was running' in again.stdout


def test_a_server_that_does_not_come_up_says_why_and_gives_the_cli(ansible, machine, client):
    result = ansible.play(CHAT, machine, chat_vars(ansible, machine, client, chat_env=dict(NANOCHAT_FAKE_CHAT_WEB_FAIL='1')))
    assert result.rc != 0, result
    assert 'The chat server did not answer GET /health on 127.0.0.1:%d of the machine (it exited)' % client.remote_port in result.output
    assert 'chat_web failed on purpose' in result.output and 'Application startup failed' in result.output
    command = result.output.split('Chat in the terminal instead: ')[1].split('\n')[0].strip().rstrip('"')
    assert command.startswith('ssh -t %s ' % machine.name), command
    # the printed command works (here with the test's SSH config, and a prompt instead of a terminal)
    remote = shlex.split(command)[3]
    cli = client.ssh(machine.name, remote + ' -p "why is the sky blue?"')
    assert cli.returncode == 0, cli.stderr
    assert 'Assistant: fixture sft model d24 step 5 answers: why is the sky blue?' in cli.stdout
    assert not session_alive(machine)


def test_a_pin_without_chat_web_serves_the_older_server_file(ansible, machine, client, git_server):
    pin = dict(nanochat_version=git_server['noui_commit'])
    moved = ansible.play(SPEEDRUN, machine, chat_vars(ansible, machine, client, **pin))
    assert moved.rc == 0, moved
    assert not os.path.exists(machine.path('nanochat/scripts/chat_web.py'))
    assert machine.ssh('git -C nanochat rev-parse HEAD').stdout.strip() == git_server['noui_commit']

    inventory = chat_vars(ansible, machine, client, chat_server_commit=git_server['tag_commit'], **pin)
    result = ansible.play(CHAT, machine, inventory)
    assert result.rc == 0, result
    assert 'history server from %s' % git_server['tag_commit'] in result.stdout
    server = machine.path('.nanochat-chat/server-%s' % git_server['tag_commit'])
    words = server_cmdlines(machine)
    assert len(words) == 1 and os.path.join(server, 'scripts', 'chat_web.py') in words[0], words
    with client.tunnel():
        assert client.chat('hi') == 'fixture sft model d24 step 5 answers: hi'
        assert "const API_URL = '';" in client.get('/')  # nanochat/ui.html of the older commit
    # the pin's checkout: nothing added, nothing changed, no fastapi in its environment
    assert machine.ssh('git -C nanochat status --porcelain --untracked-files=all').stdout == ''
    assert not glob.glob(machine.path('nanochat/.venv/lib/python*/site-packages/fastapi'))
    again = ansible.play(CHAT, machine, inventory)
    assert again.rc == 0 and again.changed(machine.name) == 0, again
    stopped = ansible.play(CHAT, machine, dict(inventory, chat_state='stopped'))
    assert stopped.rc == 0, stopped


def test_without_the_commit_in_its_history_the_server_file_is_fetched(ansible, machine, client, git_server):
    """A copy without git history (e.g. pushed without .git): the commit comes from chat_server_repo_url
    into a cache of the role's own; the copy stays as it is."""
    machine.ssh('cp -a nanochat nogit && rm -rf nogit/.git')
    assert not os.path.exists(machine.path('nogit/scripts/chat_web.py'))
    inventory = chat_vars(ansible, machine, client, chat_nanochat_dir='~/nogit', chat_run_dir='~/.chat-fetched',
                          chat_server_commit=git_server['tag_commit'], chat_server_repo_url=git_server['url'])
    result = ansible.play(CHAT, machine, inventory)
    assert result.rc == 0, result
    assert 'history server from %s' % git_server['tag_commit'] in result.stdout
    assert os.path.isdir(machine.path('.chat-fetched/nanochat.git'))
    assert os.path.isfile(machine.path('.chat-fetched/server-%s/scripts/chat_web.py' % git_server['tag_commit']))
    with client.tunnel():
        assert client.chat('fetched?') == 'fixture sft model d24 step 5 answers: fetched?'
    assert not os.path.exists(machine.path('nogit/.git'))
    assert not os.path.exists(machine.path('nogit/scripts/chat_web.py'))
    stopped = ansible.play(CHAT, machine, dict(inventory, chat_state='stopped'))
    assert stopped.rc == 0, stopped
