# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as a user installs it: build the tarball, install it into a temporary
collections path, run the playbooks and the inventory by FQCN from a folder outside the checkout
against the RunPod fake started as its own process (``python -m tests.fakes runpod``).

The file name sorts last so that it runs after the other tests: the checkout then holds what
they leave behind (.pytest_cache, ...), and the build must still ship none of it. The tree built
first also gets every leftover planted on purpose, so the check does not depend on what ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import REPO_ROOT

# installed use is what differs most between ansible-core releases: these run on both lines
pytestmark = [pytest.mark.integration, pytest.mark.newest_line]

BIN = os.path.dirname(sys.executable)
KEY = 'installed-smoke-key-7d2e'
# What the tests and tools leave in a checkout; none of it belongs in the collection.
LEFTOVERS = ('.ansible/collections/ansible_collections/nanochat/remote_gpu/galaxy.yml', '.pytest_cache/v/cache/nodeids',
             'demo-run/state', 'tests/output/junit.xml', '.venv/bin/python', '.venv-latest/bin/python',
             '.cache/collections/x', 'plugins/modules/__pycache__/x.cpython-311.pyc', 'nanochat-remote_gpu-0.0.9.tar.gz',
             '.mypy_cache/x', 'changelogs/.plugin-cache.yaml')
FORBIDDEN = ('.ansible', '.pytest_cache', 'demo-run', 'tests/output', '.venv', '.venv-latest', '.cache', '.ci',
             'bench', '__pycache__', '.mypy_cache', 'changelogs/.plugin-cache.yaml')


def tree_files():
    out = subprocess.check_output(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=REPO_ROOT)
    return sorted(set(p for p in out.decode().split('\0') if p and os.path.isfile(os.path.join(REPO_ROOT, p))))


def build(source, dest):
    proc = subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', dest, source],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, env=clean_env(), check=False)
    assert proc.returncode == 0, proc.stdout
    tarballs = [f for f in os.listdir(dest) if f.endswith('.tar.gz')]
    assert len(tarballs) == 1, tarballs
    return os.path.join(dest, tarballs[0])


def members(tarball):
    with tarfile.open(tarball) as tar:
        return [m.name for m in tar.getmembers()]


def shipped_leftovers(names):
    bad = []
    for name in names:
        parts = name.split('/')
        if any(name == f or name.startswith(f + '/') for f in FORBIDDEN) or '__pycache__' in parts or name.endswith(('.pyc', '.tar.gz')):
            bad.append(name)
    return bad


def clean_env(**extra):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'RUNPOD_', 'LAMBDA_', 'VAST_')))
    env.update(extra)
    return env


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    """The tarball built from a copy of this tree with every leftover planted in it."""
    root = tmp_path_factory.mktemp('build')
    source = root / 'src'
    for rel in tree_files():
        target = source / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(REPO_ROOT, rel), str(target))
    for rel in LEFTOVERS:
        target = source / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text('left behind\n')
    dist = root / 'dist'
    dist.mkdir()
    return build(str(source), str(dist))


def test_the_tarball_ships_no_leftovers_of_tests_and_tools(tarball, tmp_path):
    names = members(tarball)
    assert 'galaxy.yml' not in names and 'MANIFEST.json' in names and 'FILES.json' in names
    for wanted in ('bindep.txt', 'meta/execution-environment.yml', 'meta/runtime.yml', 'requirements.txt',
                   'playbooks/provision.yml', 'roles/provision/tasks/main.yml', 'plugins/inventory/gpu_instances.py'):
        assert wanted in names, wanted
    assert shipped_leftovers(names) == []
    # The same from the checkout itself, after the test run (its real leftovers).
    dist = tmp_path / 'dist'
    dist.mkdir()
    from_checkout = build(REPO_ROOT, str(dist))
    assert shipped_leftovers(members(from_checkout)) == []
    assert os.path.getsize(from_checkout) < 2 * os.path.getsize(tarball) + 65536


@pytest.fixture
def fake_api():
    """The RunPod fake as a standalone process, as a user (or CI) would start it."""
    proc = subprocess.Popen([sys.executable, '-m', 'tests.fakes', 'runpod', '--port', '0', '--api-key', KEY,
                             '--boot-delay', '3600'], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, env=clean_env())
    line = proc.stdout.readline()
    assert line.startswith('listening on '), line
    yield line.split()[-1]
    proc.terminate()
    proc.wait(timeout=30)


def test_installed_collection_runs_by_fqcn_from_another_folder(tarball, fake_api, tmp_path):
    collections = tmp_path / 'collections'
    work = tmp_path / 'work'
    home = tmp_path / 'home'
    for path in (work, home):
        path.mkdir()
    env = clean_env(HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR='1',
                    RUNPOD_API_KEY=KEY, RUNPOD_API_URL=fake_api)

    def run(*command):
        proc = subprocess.run([os.path.join(BIN, command[0])] + list(command[1:]), cwd=str(work), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300, check=False)
        proc.text = ' '.join((proc.stdout + proc.stderr).split())
        return proc

    installed = run('ansible-galaxy', 'collection', 'install', tarball, '-p', str(collections))
    assert installed.returncode == 0, installed.text
    listing = run('ansible-galaxy', 'collection', 'list', 'nanochat.remote_gpu')
    assert str(collections) in listing.text and 'nanochat.remote_gpu 0.1.0' in listing.text, listing.text
    assert not os.path.lexists(str(collections / 'ansible_collections' / 'nanochat' / 'remote_gpu' / '.ansible'))

    # one pod to list and to tear down
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import make_client
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils._runpod import RunPodApi, create_pod_body
    RunPodApi(make_client('runpod', KEY, fake_api, pace_state_path=None)).create_pod(
        create_pod_body('nanochat-smoke', 'NVIDIA H100 80GB HBM3', gpu_count=1))

    doc = run('ansible-doc', 'nanochat.remote_gpu.runpod_pod')
    assert doc.returncode == 0 and 'RunPod' in doc.text, doc.text

    check = run('ansible-playbook', 'nanochat.remote_gpu.provision', '-i', 'localhost,', '-e', 'provider=runpod',
                '-e', 'instance_name=nanochat-new', '-e', 'gpu=H100:1', '--check')
    assert check.returncode == 0, check.text
    assert 'Check mode: would create runpod instance nanochat-new' in check.text
    assert str(collections) in run('ansible-playbook', 'nanochat.remote_gpu.provision', '--list-tasks', '-i', 'localhost,',
                                   '-vvv').text  # the installed copy is the one that runs

    config = 'plugin: nanochat.remote_gpu.gpu_instances\nproviders: [runpod]\nname_filter: "nanochat*"\n'
    (work / 'cloud.gpu_instances.yml').write_text(config)
    inventory = run('ansible-inventory', '-i', 'cloud.gpu_instances.yml', '--list')
    assert inventory.returncode == 0, inventory.text
    data = json.loads(inventory.stdout)
    assert 'nanochat-smoke' in data['_meta']['hostvars']

    # the seeded pod never answers SSH: teardown cannot tell whether results would be lost and
    # refuses (check mode or not) until force=true
    refused = run('ansible-playbook', 'nanochat.remote_gpu.teardown', '-i', 'localhost,', '-e', 'provider=runpod',
                  '-e', 'instance_name=nanochat-smoke', '--check', '--diff')
    assert refused.returncode == 2, refused.text
    assert 'nanochat-smoke: cannot be reached over SSH' in refused.text
    assert 'Check mode: nothing was terminated either way.' in refused.text
    down = run('ansible-playbook', 'nanochat.remote_gpu.teardown', '-i', 'localhost,', '-e', 'provider=runpod',
               '-e', 'instance_name=nanochat-smoke', '-e', 'force=true', '--check', '--diff')
    assert down.returncode == 0, down.text
    assert 'Would terminate 1 runpod instance(s): nanochat-smoke' in down.text
    assert '[WARNING]' not in down.stdout + down.stderr, down.text
    assert os.listdir(str(work)) == ['cloud.gpu_instances.yml'], 'the plays wrote into the current folder'
