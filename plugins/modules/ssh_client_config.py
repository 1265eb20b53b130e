#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ssh_client_config
short_description: Host blocks and pinned host keys of GPU instances in a managed OpenSSH client config
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Writes (O(state=present)) or removes (O(state=absent)) one C(Host) block per instance in
    O(config_file), each between C(# BEGIN nanochat.remote_gpu host <alias>) and C(# END ...) markers,
    and the instance's host key in O(known_hosts_file) under its alias.
  - Each block pins the host key (C(HostKeyAlias) = the alias, C(UserKnownHostsFile) =
    O(known_hosts_file), C(StrictHostKeyChecking yes)), so a new address after a restart still
    matches and a different key is refused.
  - Adds one C(Include) line for O(config_file) at the B(top) of O(main_config_file) (an C(Include)
    after a C(Host) block would only apply inside that block), creating that file with mode 0600
    when it does not exist. Nothing else in it is changed.
  - Every file is written atomically (a temporary file renamed into place) under an exclusive lock,
    so several tasks (the hosts of a fleet, in parallel) can write at the same time without losing
    each other's entries. Blocks of other instances are kept.
  - This module is what the C(nanochat.remote_gpu.ssh_config) role runs.
options:
  hosts:
    description:
      - The instances. For O(state=present) each needs C(alias), C(hostname), C(port), C(user) and
        C(host_key) (C(type base64), as M(nanochat.remote_gpu.ssh_ready) returns it), and may set
        C(identity_file) and C(local_forwards). For O(state=absent) only C(alias) is read.
    type: list
    elements: dict
    required: true
    suboptions:
      alias:
        description: The name in C(ssh <alias>) (letters, digits, C(.), C(_), C(-)).
        type: str
        required: true
      hostname:
        description: Address of the SSH server.
        type: str
      port:
        description: Port of the SSH server.
        type: int
      user:
        description: User to log in as.
        type: str
      host_key:
        description: The server's host key, C(type base64) (a comment after it is ignored).
        type: str
      identity_file:
        description: Private key for this host; default O(identity_file).
        type: path
      local_forwards:
        description: Forwards for this host; default O(local_forwards).
        type: list
        elements: raw
  state:
    description: Write or remove the hosts' entries.
    type: str
    choices: [present, absent]
    default: present
  config_file:
    description: The managed file with the C(Host) blocks.
    type: path
    default: ~/.ssh/nanochat_remote_gpu.conf
  known_hosts_file:
    description: The known_hosts file with the instances' host keys, keyed by alias.
    type: path
    default: ~/.ssh/nanochat_remote_gpu_known_hosts
  main_config_file:
    description: The user's OpenSSH config, which gets the C(Include) line.
    type: path
    default: ~/.ssh/config
  manage_include:
    description: Add the C(Include) line to O(main_config_file) (O(state=present) only).
    type: bool
    default: true
  identity_file:
    description: Private key of the hosts that do not set C(identity_file).
    type: path
    default: ~/.ssh/id_ed25519
  local_forwards:
    description:
      - Forwards of the hosts that do not set C(local_forwards) - a port number (same port on both
        sides) or C(LOCAL:REMOTE), to the instance's loopback.
    type: list
    elements: raw
    default: [8000]
  server_alive_interval:
    description: C(ServerAliveInterval) in seconds.
    type: int
    default: 60
  server_alive_count_max:
    description: C(ServerAliveCountMax).
    type: int
    default: 3
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Write the SSH config of two instances
  nanochat.remote_gpu.ssh_client_config:
    hosts:
      - alias: nanochat
        hostname: 203.0.113.7
        port: 41201
        user: root
        host_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGaLwGb4FQ5vC0G0tJbX0sQ2sS3m0h3zq8V4ob4E1wqK
      - alias: nanochat-2
        hostname: 203.0.113.8
        port: 22
        user: ubuntu
        host_key: "{{ ready.host_key.type }} {{ ready.host_key.base64 }}"
        local_forwards: ["8080:8000"]

- name: Forget an instance
  nanochat.remote_gpu.ssh_client_config:
    hosts:
      - alias: nanochat-2
    state: absent
"""

RETURN = r"""
aliases:
  description: The aliases whose entries were written or removed (or, in check mode, would be).
  returned: always
  type: list
  elements: str
  sample: [nanochat]
files:
  description: The files changed (or that would change).
  returned: always
  type: list
  elements: str
  sample: [/home/me/.ssh/nanochat_remote_gpu.conf, /home/me/.ssh/nanochat_remote_gpu_known_hosts]
"""

import os
import re
import tempfile

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

from ansible.module_utils.basic import AnsibleModule

HEADER = ('# Managed by nanochat.remote_gpu: one Host block per GPU instance, rewritten by the collection.\n'
          '# Your own entries belong in ~/.ssh/config (this file is included from its top).\n')
ALIAS = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
BEGIN = '# BEGIN nanochat.remote_gpu host %s'
END = '# END nanochat.remote_gpu host %s'


def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def block(host, params):
    forwards = host.get('local_forwards')
    if forwards is None:
        forwards = params['local_forwards']
    lines = [
        'Host %s' % host['alias'],
        '    HostName %s' % host['hostname'],
        '    Port %d' % int(host['port']),
        '    User %s' % host['user'],
        '    IdentityFile %s' % (host.get('identity_file') or params['identity_file']),
        '    IdentitiesOnly yes',
        '    HostKeyAlias %s' % host['alias'],
        '    UserKnownHostsFile %s' % params['known_hosts_file'],
        '    StrictHostKeyChecking yes',
        '    ServerAliveInterval %d' % params['server_alive_interval'],
        '    ServerAliveCountMax %d' % params['server_alive_count_max'],
    ]
    for forward in forwards:
        ports = str(forward).split(':')
        lines.append('    LocalForward %s 127.0.0.1:%s' % (ports[0], ports[-1]))
    return '\n'.join([BEGIN % host['alias']] + lines + [END % host['alias']]) + '\n'


def split_blocks(text):
    """The managed file as ([aliases in file order], {alias: block text})."""
    blocks, order, current, lines = {}, [], None, []
    for line in (text or '').splitlines(True):
        match = re.match(r'^# BEGIN nanochat\.remote_gpu host (\S+)\s*$', line)
        if match and current is None:
            current, lines = match.group(1), [line]
            continue
        if current is not None:
            lines.append(line)
            if line.strip() == END % current:
                blocks[current] = ''.join(lines)
                order.append(current)
                current = None
    return order, blocks


def render_managed(order, blocks):
    return HEADER + ''.join('\n' + blocks[alias] for alias in order)


def update_known_hosts(text, hosts, state):
    aliases = set(h['alias'] for h in hosts)
    kept = [line for line in (text or '').splitlines() if line.split(' ', 1)[0] not in aliases]
    if state == 'present':
        for host in hosts:
            key = ' '.join(str(host['host_key']).split()[:2])
            kept.append('%s %s' % (host['alias'], key))
    return ''.join(line + '\n' for line in kept)


def with_include(text, include_path):
    """``text`` with the Include line first (None when it is there already)."""
    wanted = 'Include %s' % include_path
    for line in (text or '').splitlines():
        if re.match(r'^\s*Include\s+%s\s*$' % re.escape(include_path), line):
            return None
    return wanted + '\n' + (text or '')


def check_hosts(module, hosts, state):
    for host in hosts:
        alias = host.get('alias')
        if not isinstance(alias, str) or not ALIAS.match(alias):
            module.fail_json(msg='hosts: alias %r must be letters, digits, ".", "_" or "-" (it becomes "ssh <alias>")' % (alias,))
        if state == 'absent':
            continue
        missing = [k for k in ('hostname', 'port', 'user', 'host_key') if host.get(k) in (None, '')]
        if missing:
            module.fail_json(msg='hosts: %s needs %s' % (alias, ', '.join(missing)))
        if len(str(host['host_key']).split()) < 2:
            module.fail_json(msg='hosts: the host_key of %s must be "type base64", got %r' % (alias, host['host_key']))
        try:
            port = int(host['port'])
        except (TypeError, ValueError):
            port = 0
        if not 1 <= port <= 65535:
            module.fail_json(msg='hosts: the port of %s must be 1-65535, got %r' % (alias, host['port']))
        for value in (host['hostname'], host['user']):
            if re.search(r'\s', str(value)):
                module.fail_json(msg='hosts: hostname and user of %s must not contain spaces' % alias)


def write_atomic(module, path, text, mode):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
        os.chmod(path, mode)  # atomic_move gives a new file the umask's mode
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type='list', elements='dict', required=True, options=dict(
                alias=dict(type='str', required=True),
                hostname=dict(type='str'),
                port=dict(type='int'),
                user=dict(type='str'),
                host_key=dict(type='str', no_log=False),
                identity_file=dict(type='path'),
                local_forwards=dict(type='list', elements='raw'),
            )),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            config_file=dict(type='path', default='~/.ssh/nanochat_remote_gpu.conf'),
            known_hosts_file=dict(type='path', default='~/.ssh/nanochat_remote_gpu_known_hosts'),
            main_config_file=dict(type='path', default='~/.ssh/config'),
            manage_include=dict(type='bool', default=True),
            identity_file=dict(type='path', default='~/.ssh/id_ed25519'),
            local_forwards=dict(type='list', elements='raw', default=[8000]),
            server_alive_interval=dict(type='int', default=60),
            server_alive_count_max=dict(type='int', default=3),
        ),
        supports_check_mode=True,
    )
    p = module.params
    hosts, state = p['hosts'], p['state']
    check_hosts(module, hosts, state)
    config_dir = os.path.dirname(p['config_file'])
    if state == 'absent' and read(p['config_file']) is None and read(p['known_hosts_file']) is None:
        module.exit_json(changed=False, aliases=[], files=[])
    if not module.check_mode and not os.path.isdir(config_dir):
        os.makedirs(config_dir, 0o700)

    lock = None
    if fcntl is not None and not module.check_mode:
        lock = open(p['config_file'] + '.lock', 'a')
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        managed_before = read(p['config_file'])
        order, blocks = split_blocks(managed_before)
        blocks_before = dict(blocks)
        for host in hosts:
            alias = host['alias']
            if state == 'present':
                if alias not in blocks:
                    order.append(alias)
                blocks[alias] = block(host, p)
            elif alias in blocks:
                order.remove(alias)
                del blocks[alias]
        managed_after = render_managed(order, blocks)
        if state == 'absent' and managed_before is None:
            managed_after = None

        known_before = read(p['known_hosts_file'])
        known_after = update_known_hosts(known_before, hosts, state)
        if state == 'absent' and known_before is None:
            known_after = None

        main_before = read(p['main_config_file'])
        main_after = with_include(main_before, p['config_file']) if (p['manage_include'] and state == 'present') else None

        changes = []
        if managed_after is not None and managed_after != managed_before:
            changes.append((p['config_file'], managed_before, managed_after, 0o600))
        if known_after is not None and known_after != (known_before or ''):
            changes.append((p['known_hosts_file'], known_before, known_after, 0o600))
        if main_after is not None:
            mode = (os.stat(p['main_config_file']).st_mode & 0o7777) if main_before is not None else 0o600
            changes.append((p['main_config_file'], main_before, main_after, mode))
        if not module.check_mode:
            for path, _before, after, mode in changes:
                write_atomic(module, path, after, mode)
    finally:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()

    changed_aliases = []
    for host in hosts:
        alias = host['alias']
        before_text = blocks_before.get(alias)
        after_text = blocks.get(alias)
        known_line = [line for line in (known_before or '').splitlines() if line.split(' ', 1)[0] == alias]
        wanted_line = ['%s %s' % (alias, ' '.join(str(host.get('host_key', '')).split()[:2]))] if state == 'present' else []
        if before_text != after_text or known_line != wanted_line:
            changed_aliases.append(alias)
    result = dict(changed=bool(changes), aliases=changed_aliases, files=[c[0] for c in changes])
    if module._diff:
        result['diff'] = [dict(before_header=path, after_header=path, before=before or '', after=after)
                          for path, before, after, _mode in changes]
    module.exit_json(**result)


if __name__ == '__main__':
    main()
