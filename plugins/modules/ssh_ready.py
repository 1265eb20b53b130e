#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ssh_ready
short_description: Wait until an SSH server accepts our key, and return its host key
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Waits until the SSH server at O(host):O(port) completes a handshake B(and accepts the private
    key) O(private_key_file) for O(user), then runs a no-op command to prove the account can run
    commands. An open TCP port is not enough; RunPod and Vast.ai containers accept TCP connections
    (and even finish the SSH handshake) before the public key is installed.
  - Returns the server's host key (type, base64, SHA256 fingerprint and a known_hosts line) so
    it can be pinned instead of trusting the first key seen later (the
    C(StrictHostKeyChecking no) of most guides).
  - The wait is bounded by O(timeout), measured with a monotonic clock.
  - >-
    Runs on the machine that will connect (the control node); use C(delegate_to: localhost) when
    the play targets the instance.
options:
  host:
    description: Host name or address of the SSH server.
    type: str
    required: true
  port:
    description: TCP port of the SSH server.
    type: int
    default: 22
  user:
    description:
      - User to log in as. RunPod and Vast.ai images log in as V(root), Lambda Cloud as V(ubuntu).
    type: str
    required: true
  private_key_file:
    description:
      - Path of the private key (OpenSSH or PEM format; ed25519, ECDSA or RSA).
    type: path
    required: true
  passphrase:
    description: Passphrase of O(private_key_file), when it is encrypted.
    type: str
  timeout:
    description: Seconds to keep trying before failing.
    type: int
    default: 600
  connect_timeout:
    description: Seconds allowed for one attempt (TCP connect, SSH banner and handshake each).
    type: int
    default: 10
  delay:
    description: Seconds between two attempts.
    type: float
    default: 1.0
  command:
    description:
      - Command run once the key is accepted; it must exit 0 for the server to count as ready.
        Set to an empty string to skip it.
    type: str
    default: "true"
  expected_host_key:
    description:
      - A host key the server must present, as C(type base64) (a known_hosts line without the host
        name) or the C(SHA256:...) fingerprint. A different key fails at once, as a possible
        man-in-the-middle.
    type: str
  probe_users:
    description:
      - When the key keeps being refused, these users are tried once with the same key at the end,
        to tell "wrong user" from "key not accepted".
    type: list
    elements: str
    default: [root, ubuntu]
  progress_interval:
    description:
      - While it waits, the module's action plugin (the module runs on the controller) prints a
        line every O(progress_interval) seconds - what is awaited, the last attempt's outcome, how
        long so far and the limit. V(0) prints none.
    type: int
    default: 30
  progress_file:
    description:
      - Where the module writes its progress for the action plugin (a small JSON file, replaced
        after each attempt). Set by the action plugin; there is no need to give it.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs in check mode too.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
requirements:
  - paramiko >= 3.2
notes:
  - Failures are distinct so they can be acted on; the message starts with one of
    C(private key file), C(no SSH server answered), C(the SSH server never accepted),
    C(wrong user), C(host key mismatch) or C(the command).
seealso:
  - module: ansible.builtin.wait_for_connection
"""

EXAMPLES = r"""
- name: Wait until the pod accepts our key, and record its host key
  nanochat.remote_gpu.ssh_ready:
    host: "{{ instance.ssh_host }}"
    port: "{{ instance.ssh_port }}"
    user: "{{ instance.ssh_user }}"
    private_key_file: ~/.ssh/id_ed25519
    timeout: 900
  delegate_to: localhost
  register: ready

- name: Pin the host key for later connections
  ansible.builtin.known_hosts:
    path: ~/.ssh/nanochat_remote_gpu_known_hosts
    name: "{{ instance.name }}"
    key: "{{ instance.name }} {{ ready.host_key.type }} {{ ready.host_key.base64 }}"
  delegate_to: localhost
"""

RETURN = r"""
host_key:
  description: The server's host key.
  returned: success
  type: dict
  contains:
    type:
      description: Key type.
      type: str
      sample: ssh-ed25519
    base64:
      description: The key, base64 encoded, as in a known_hosts file.
      type: str
      sample: AAAAC3NzaC1lZDI1NTE5AAAAIGaLwGb4FQ5vC0G0tJbX0sQ2sS3m0h3zq8V4ob4E1wqK
    fingerprint_sha256:
      description: SHA256 fingerprint as C(ssh-keygen -l) prints it.
      type: str
      sample: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
    known_hosts_line:
      description: A line for a known_hosts file, naming the host as C(ssh) does for this port.
      type: str
      sample: "[203.0.113.7]:41201 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGaLwGb4FQ5vC0G0tJbX0sQ2sS3m0h3zq8V4ob4E1wqK"
elapsed:
  description: Seconds from the first attempt until the server was ready.
  returned: success
  type: float
  sample: 12.4
attempts:
  description: Number of connection attempts made.
  returned: always
  type: int
  sample: 4
"""

import base64
import hashlib
import socket
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._progress import write_progress

try:
    import paramiko
    HAS_PARAMIKO = True
    PARAMIKO_IMPORT_ERROR = None
except ImportError:
    paramiko = None
    HAS_PARAMIKO = False
    PARAMIKO_IMPORT_ERROR = traceback.format_exc()


class NotReady(Exception):
    """One attempt failed; ``kind`` says how far it got (unreachable, no_ssh, auth, command)."""

    def __init__(self, kind, detail, host_key=None):
        super(NotReady, self).__init__(detail)
        self.kind = kind
        self.detail = detail
        self.host_key = host_key


def fingerprint_sha256(key_bytes):
    return 'SHA256:' + base64.b64encode(hashlib.sha256(key_bytes).digest()).decode().rstrip('=')


def known_hosts_name(host, port):
    return host if port == 22 else '[%s]:%d' % (host, port)


def describe_host_key(key, host, port):
    return dict(
        type=key.get_name(),
        base64=key.get_base64(),
        fingerprint_sha256=fingerprint_sha256(key.asbytes()),
        known_hosts_line='%s %s %s' % (known_hosts_name(host, port), key.get_name(), key.get_base64()),
    )


def host_key_matches(expected, host_key):
    expected = expected.strip()
    if expected.startswith('SHA256:'):
        return expected.rstrip('=') == host_key['fingerprint_sha256']
    fields = expected.split()
    if len(fields) >= 3 and not fields[0].startswith(('ssh-', 'ecdsa-', 'sk-')):
        fields = fields[1:]  # a known_hosts line with a host name in front
    return len(fields) >= 2 and fields[0] == host_key['type'] and fields[1] == host_key['base64']


def load_private_key(path, passphrase):
    try:
        return paramiko.PKey.from_path(path, password=passphrase.encode('utf-8') if passphrase else None), None
    except FileNotFoundError:
        return None, 'private key file %s does not exist' % path
    except PermissionError:
        return None, 'private key file %s cannot be read (permission denied)' % path
    except IsADirectoryError:
        return None, 'private key file %s is a directory' % path
    except paramiko.PasswordRequiredException:
        return None, 'private key file %s is encrypted: give its passphrase (passphrase option)' % path
    except (paramiko.SSHException, ValueError, TypeError, UnicodeDecodeError) as exc:
        if 'password' in str(exc).lower() and not passphrase:
            # paramiko reports encrypted OpenSSH-format keys with a plain SSHException.
            return None, 'private key file %s is encrypted: give its passphrase (passphrase option)' % path
        hint = ' (this looks like a public key: pass the private key, without .pub)' if path.endswith('.pub') else ''
        return None, 'private key file %s is not a usable private key: %s%s' % (path, exc, hint)


def attempt(host, port, user, pkey, connect_timeout, command):
    """One full try. Returns the host key dict; raises NotReady."""
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
    except (OSError, socket.timeout) as exc:
        raise NotReady('unreachable', 'TCP connect to %s:%d failed: %s' % (host, port, exc))
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = connect_timeout
        transport.handshake_timeout = connect_timeout
        transport.auth_timeout = connect_timeout
        try:
            transport.start_client(timeout=connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise NotReady('no_ssh', 'the port is open but no SSH handshake completed: %s' % (exc or type(exc).__name__))
        host_key = describe_host_key(transport.get_remote_server_key(), host, port)
        try:
            transport.auth_publickey(user, pkey)
        except paramiko.BadAuthenticationType as exc:
            raise NotReady('auth', 'the server does not allow public key login (allowed: %s)' % ', '.join(exc.allowed_types), host_key)
        except paramiko.AuthenticationException as exc:
            raise NotReady('auth', 'public key refused for user %r: %s' % (user, exc), host_key)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise NotReady('no_ssh', 'the connection broke during authentication: %s' % exc, host_key)
        if command:
            status, output = run_command(transport, command, connect_timeout)
            if status != 0:
                raise NotReady('command', 'logged in, but %r exited %s: %s' % (command, status, output), host_key)
        return host_key
    finally:
        transport.close()


def run_command(transport, command, timeout):
    try:
        channel = transport.open_session(timeout=timeout)
        channel.settimeout(timeout)
        channel.exec_command(command)
        chunks = []
        while True:
            data = channel.recv(4096)
            if not data:
                break
            chunks.append(data)
        err = b''
        while channel.recv_stderr_ready():
            err += channel.recv_stderr(4096)
        status = channel.recv_exit_status()
        text = (b''.join(chunks) + err).decode('utf-8', 'replace').strip()
        return status, text[-300:]
    except (paramiko.SSHException, socket.timeout, EOFError, OSError) as exc:
        return -1, 'could not run it: %s' % exc


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', required=True),
            port=dict(type='int', default=22),
            user=dict(type='str', required=True),
            private_key_file=dict(type='path', required=True),
            passphrase=dict(type='str', no_log=True),
            timeout=dict(type='int', default=600),
            connect_timeout=dict(type='int', default=10),
            delay=dict(type='float', default=1.0),
            command=dict(type='str', default='true'),
            expected_host_key=dict(type='str', no_log=False),
            probe_users=dict(type='list', elements='str', default=['root', 'ubuntu']),
            progress_interval=dict(type='int', default=30),
            progress_file=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    if not HAS_PARAMIKO:
        module.fail_json(msg=missing_required_lib('paramiko'), exception=PARAMIKO_IMPORT_ERROR)
    p = module.params
    if not 1 <= p['port'] <= 65535:
        module.fail_json(msg='port must be between 1 and 65535, got %d' % p['port'])
    if p['timeout'] < 0 or p['connect_timeout'] <= 0 or p['delay'] < 0:
        module.fail_json(msg='timeout and delay must not be negative, and connect_timeout must be positive')

    pkey, error = load_private_key(p['private_key_file'], p['passphrase'])
    if error:
        module.fail_json(msg=error, attempts=0)

    start = time.monotonic()
    deadline = start + p['timeout']
    attempts = 0
    last = None
    while True:
        attempts += 1
        try:
            host_key = attempt(p['host'], p['port'], p['user'], pkey, p['connect_timeout'], p['command'])
        except NotReady as exc:
            last = exc
            host_key = exc.host_key
        else:
            last = None
        if host_key and p['expected_host_key'] and not host_key_matches(p['expected_host_key'], host_key):
            module.fail_json(msg='host key mismatch at %s:%d: the server presents %s %s, not the expected key. '
                                 'This may be a man-in-the-middle, or the instance was replaced; '
                                 'check the instance before trusting it.'
                                 % (p['host'], p['port'], host_key['type'], host_key['fingerprint_sha256']),
                             host_key=host_key, attempts=attempts)
        if last is None:
            module.exit_json(changed=False, host_key=host_key, elapsed=round(time.monotonic() - start, 3),
                             attempts=attempts)
        now = time.monotonic()
        write_progress(p['progress_file'], 'SSH to accept the key at %s@%s:%d' % (p['user'], p['host'], p['port']),
                       '%s (attempt %d)' % (last.detail, attempts), now - start, p['timeout'])
        if now >= deadline:
            break
        time.sleep(min(p['delay'], max(0.0, deadline - now)))

    waited = round(time.monotonic() - start)
    where = '%s@%s:%d' % (p['user'], p['host'], p['port'])
    if last.kind == 'auth':
        for other in p['probe_users']:
            if other == p['user']:
                continue
            try:
                attempt(p['host'], p['port'], other, pkey, p['connect_timeout'], '')
            except NotReady:
                continue
            module.fail_json(msg='wrong user: the SSH server at %s:%d accepts this key for %r, not for %r. '
                                 'Set the SSH user to %r.' % (p['host'], p['port'], other, p['user'], other),
                             attempts=attempts, host_key=last.host_key)
        msg = ('the SSH server never accepted our key within %ss (%s, key %s): %s. The public key may not be '
               'installed on the instance (register it with the provider before creating the instance), '
               'or the user is wrong (RunPod and Vast.ai images use root, Lambda Cloud ubuntu).'
               % (waited, where, p['private_key_file'], last.detail))
    elif last.kind == 'command':
        msg = ('the command check never passed at %s within %ss: %s. The key is accepted, but the account '
               'cannot run commands yet.' % (where, waited, last.detail))
    else:
        msg = ('no SSH server answered at %s:%d within %ss: %s. The instance may still be booting (raise the '
               'timeout), or the address or port is wrong.' % (p['host'], p['port'], waited, last.detail))
    module.fail_json(msg=msg, attempts=attempts, host_key=last.host_key)


if __name__ == '__main__':
    main()
