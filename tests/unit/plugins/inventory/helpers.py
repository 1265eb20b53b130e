# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the gpu_instances inventory tests: the three strict fakes, and a runner of the
real ``ansible-inventory`` / ``ansible-playbook`` commands against them.

The fakes run in this process (their call logs are read directly); the Ansible commands run as
subprocesses with the API keys and URLs in their environment, the way a user runs them.

Rate limits stay on, on both sides: the fakes answer 429 to requests that come too soon, and the
plugin's clients pace themselves (Lambda Cloud one request a second, Vast.ai one list page a
second), with the pacing state shared between processes through files in ``TMPDIR`` (a fresh
directory per test). A test that lists Lambda twice therefore waits about a second; that is the
real behaviour, not shortened. Every fake keeps its default limits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from tests.fakes.lambda_cloud import FakeLambda
from tests.fakes.runpod import FakeRunPod
from tests.fakes.vastai import FakeVast

KEYS = {
    'runpod': 'rp-inventory-key-5f0c2a9e71',
    'lambda': 'lam-inventory-key-81d44b0c3e',
    'vastai': 'vast-inventory-key-c9a27e6d15',
}
ENV_NAMES = {
    'runpod': ('RUNPOD_API_KEY', 'RUNPOD_API_URL'),
    'lambda': ('LAMBDA_API_KEY', 'LAMBDA_API_URL'),
    'vastai': ('VAST_API_KEY', 'VAST_API_URL'),
}
LIST_PATHS = {
    'runpod': ('GET', r'^/v2/pods$'),
    'lambda': ('GET', r'^/api/v1/instances$'),
    'vastai': ('GET', r'^/api/v1/instances/?$'),
}
PLUGIN = 'nanochat.remote_gpu.gpu_instances'
BIN = os.path.dirname(sys.executable)
# Long enough that an instance seeded as booting stays booting for the whole test.
BOOT_DELAY = 3600.0
PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE8lZCIs9rSPJ9bsTvPKFtW6ek2UrrqsnBJLzWZx0vAV me@laptop'


def pod_body(name, gpu='NVIDIA H100 80GB HBM3', count=1, ssh=True, env=None):
    """A CreatePodRequest as the runpod_pod module sends it."""
    body = dict(name=name, gpu=dict(id=gpu, count=count), ports=['22/tcp'] if ssh else ['8888/http'],
                env=dict(PUBLIC_KEY=PUBLIC_KEY))
    body['env'].update(env or {})
    return body


class Clouds(object):
    """The three fakes, started, with helpers to seed instances and read their call logs."""

    def __init__(self, vast_offers=None):
        self.fakes = {
            'runpod': FakeRunPod(api_key=KEYS['runpod'], boot_delay=BOOT_DELAY),
            'lambda': FakeLambda(api_key=KEYS['lambda'], boot_delay=BOOT_DELAY),
            'vastai': FakeVast(api_key=KEYS['vastai'], boot_delay=BOOT_DELAY, offers=vast_offers),
        }
        for fake in self.fakes.values():
            fake.start()

    @property
    def runpod(self):
        return self.fakes['runpod']

    @property
    def lambda_(self):
        return self.fakes['lambda']

    @property
    def vastai(self):
        return self.fakes['vastai']

    def stop(self):
        for fake in self.fakes.values():
            fake.stop()

    def env(self, providers=('runpod', 'lambda', 'vastai'), keys=None):
        """API keys and URLs for ``providers`` (``keys`` overrides some keys)."""
        keys = dict(KEYS, **(keys or {}))
        env = {}
        for provider in providers:
            key_name, url_name = ENV_NAMES[provider]
            env[key_name] = keys[provider]
            env[url_name] = self.fakes[provider].url
        return env

    # seeding (no HTTP: the call logs start empty)
    def pod(self, name, ready=True, **kwargs):
        return self.runpod.seed_pod(pod_body(name, **kwargs), ready=ready)['id']

    def lambda_instance(self, name, status='active', **kwargs):
        return self.lambda_.seed_instance(name, status=status, **kwargs)

    def vast_instance(self, label, state='running', **kwargs):
        return str(self.vastai.seed_instance(label, state=state, **kwargs))

    # call logs
    def list_calls(self, provider):
        method, path = LIST_PATHS[provider]
        return self.fakes[provider].calls_to(method, path)

    def call_counts(self):
        return dict((p, len(f.calls)) for p, f in self.fakes.items())

    def clear_calls(self):
        for fake in self.fakes.values():
            with fake.lock:
                del fake.calls[:]


def unsafe_free(value):
    """ansible-inventory marks untrusted strings as ``{"__ansible_unsafe": text}``: the plain data."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return dict((k, unsafe_free(v)) for k, v in value.items())
    if isinstance(value, list):
        return [unsafe_free(v) for v in value]
    return value


class Inventory(object):
    """The parsed ``ansible-inventory --list`` output of one run."""

    def __init__(self, result):
        self.result = result
        self.rc = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.raw = json.loads(result.stdout) if result.returncode == 0 and result.stdout.strip().startswith('{') else None
        self.data = unsafe_free(self.raw) if self.raw is not None else None

    @property
    def hostvars(self):
        return self.data['_meta']['hostvars']

    @property
    def hosts(self):
        return sorted(self.hostvars)

    def group(self, name):
        """Hosts in group ``name`` and its children (sorted)."""
        entry = self.data.get(name) or {}
        hosts = set(entry.get('hosts') or [])
        for child in entry.get('children') or []:
            hosts.update(self.group(child))
        return sorted(hosts)

    def raw_var(self, host, name):
        """A host variable as printed (with its unsafe marker, if any)."""
        return self.raw['_meta']['hostvars'][host][name]


class AnsibleRunner(object):
    """Runs the real Ansible commands in a test's ``tmp_path`` against the fakes.

    ``inventory(config, *args, env=..., name=..., fatal=True)`` writes ``config`` (a dict, dumped
    as YAML, or text; None to use a file already there) to ``name`` and runs ``ansible-inventory
    -i <it> --list *args``. ``fatal`` sets ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED so a failing
    source fails the command (otherwise Ansible only warns and goes on with an empty inventory).
    HOME is a directory of the test, so ``~`` in a configuration stays inside it.
    """

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.pace_dir = tmp_path / 'pace'
        self.pace_dir.mkdir()
        self.home = tmp_path / 'home'
        self.home.mkdir()

    def write_config(self, config, name='test.gpu_instances.yml'):
        path = self.dir / name
        if isinstance(config, dict):
            config = dict(config)
            config.setdefault('plugin', PLUGIN)
            config = yaml.safe_dump(config, sort_keys=False)
        path.write_text(config)
        return path

    def environment(self, env, fatal):
        base = dict(os.environ)
        for names in ENV_NAMES.values():
            for name in names:
                base.pop(name, None)
        base.update(
            HOME=str(self.home),
            TMPDIR=str(self.pace_dir),
            ANSIBLE_LOCAL_TEMP=str(self.dir / 'ansible-tmp'),
            ANSIBLE_NOCOLOR='1',
            ANSIBLE_FORCE_COLOR='0',
            ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED='true' if fatal else 'false',
        )
        base.update(env or {})
        return base

    def run(self, argv, env=None, fatal=True, timeout=120):
        return subprocess.run(argv, cwd=str(self.dir), env=self.environment(env, fatal), capture_output=True,
                              text=True, timeout=timeout, check=False)

    def inventory(self, config, *args, env=None, name='test.gpu_instances.yml', fatal=True):
        path = self.write_config(config, name) if config is not None else self.dir / name
        result = self.run([os.path.join(BIN, 'ansible-inventory'), '-i', str(path), '--list'] + list(args),
                          env=env, fatal=fatal)
        return Inventory(result)

    def playbook(self, playbook, inventory_path, env=None, fatal=True):
        play = self.dir / 'play.yml'
        play.write_text(playbook)
        return self.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(inventory_path), str(play)],
                        env=env, fatal=fatal)
