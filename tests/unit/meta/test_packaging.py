# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packaging metadata: the execution environment files and the changelog fragments."""

from __future__ import annotations

import ast
import glob
import os
import re
import sys

import yaml

from tests.conftest import REPO_ROOT

# Control-node Python packages the plugins import, by import name -> requirement name.
DISTRIBUTIONS = {'requests': 'requests', 'paramiko': 'paramiko', 'jmespath': 'jmespath'}


def read(rel):
    with open(os.path.join(REPO_ROOT, rel)) as handle:
        return handle.read()


def requirement_names(text):
    names = set()
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if line and not line.startswith('-'):
            names.add(re.split(r'[<>=!~\[; ]', line, maxsplit=1)[0].lower())
    return names


def third_party_imports():
    """Top-level modules imported by the plugins that are neither stdlib nor Ansible."""
    found = {}
    for path in glob.glob(os.path.join(REPO_ROOT, 'plugins', '**', '*.py'), recursive=True):
        tree = ast.parse(read(os.path.relpath(path, REPO_ROOT)))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split('.')[0]
                if top not in sys.stdlib_module_names and top not in ('ansible', 'ansible_collections', '__future__'):
                    found.setdefault(top, set()).add(os.path.relpath(path, REPO_ROOT))
    return found


def test_execution_environment_names_requirements_and_bindep():
    ee = yaml.safe_load(read('meta/execution-environment.yml'))
    assert ee['version'] == 1
    assert ee['dependencies']['python'] == 'requirements.txt'
    assert ee['dependencies']['system'] == 'bindep.txt'
    assert os.path.isfile(os.path.join(REPO_ROOT, 'requirements.txt'))
    assert os.path.isfile(os.path.join(REPO_ROOT, 'bindep.txt'))


def test_requirements_name_every_package_the_plugins_import():
    wanted = requirement_names(read('requirements.txt'))
    imports = third_party_imports()
    assert imports, 'no third-party import found: the scan is broken'
    for module, files in sorted(imports.items()):
        assert module in DISTRIBUTIONS, '%s (imported by %s) is not a known runtime dependency' % (module, sorted(files))
        assert DISTRIBUTIONS[module] in wanted, '%s is imported by %s but not in requirements.txt' % (module, sorted(files))


def test_bindep_names_ssh_and_rsync_for_debian_and_rpm_images():
    entries = {}
    for line in read('bindep.txt').splitlines():
        line = line.split('#', 1)[0].strip()
        if line:
            name, dummy, profiles = line.partition(" ")
            entries[name] = profiles
    # ssh (connections) and ssh-keygen (the provision role's key pair); rsync (results home)
    assert 'platform:dpkg' in entries['openssh-client'] and 'platform:rpm' in entries['openssh-clients']
    assert 'platform:dpkg' in entries['rsync'] and 'platform:rpm' in entries['rsync']
    # what the roles run on the control node is covered
    roles = read('roles/provision/tasks/keys.yml')
    assert 'ssh-keygen' in roles


def test_galaxy_build_ignore_keeps_the_ee_files():
    galaxy = yaml.safe_load(read('galaxy.yml'))
    for pattern in galaxy['build_ignore']:
        assert not re.match(pattern.replace('*', '.*') + '$', 'bindep.txt')
        assert not re.match(pattern.replace('*', '.*') + '$', 'meta/execution-environment.yml')


def test_changelog_fragments_follow_the_ansible_rules():
    """New modules and plugins come from version_added, never from fragments; new roles and
    playbooks go in the add object.role / add object.playbook sections."""
    modules = set(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(REPO_ROOT, 'plugins', 'modules', '*.py')))
    plugins = set(os.path.splitext(os.path.basename(p))[0]
                  for p in glob.glob(os.path.join(REPO_ROOT, 'plugins', '*', '*.py')) if '/modules/' not in p)
    roles = set(os.listdir(os.path.join(REPO_ROOT, 'roles')))
    playbooks = set(os.path.splitext(p)[0] for p in os.listdir(os.path.join(REPO_ROOT, 'playbooks')))
    fragments = sorted(glob.glob(os.path.join(REPO_ROOT, 'changelogs', 'fragments', '*.yml')))
    assert fragments
    for path in fragments:
        data = yaml.safe_load(read(os.path.relpath(path, REPO_ROOT)))
        for section, entries in data.items():
            if section.startswith('add '):
                kind = section.split('.', 1)[1]
                assert section in ('add object.role', 'add object.playbook', 'add plugin.filter', 'add plugin.test'), section
                names = {'role': roles, 'playbook': playbooks}.get(kind)
                for entry in entries:
                    assert set(entry) == {'name', 'description'}, (path, entry)
                    assert names is None or entry['name'] in names, (path, entry)
                continue
            for entry in entries:
                text = ' '.join(str(entry).split())
                assert not re.search(r'\bnew (module|inventory plugin|plugin|filter|role|playbook)s?\b', text, re.I), (path, text)
                subject = text.split(' - ', 1)[0].strip()
                assert subject not in (modules | plugins) or not re.search(r'\bnew\b', text, re.I), (path, text)
