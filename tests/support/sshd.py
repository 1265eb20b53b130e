# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throwaway "machines" on this host: a Unix user with its own sshd on 127.0.0.1.

Tests, benchmarks and the demo use a :class:`Machine` wherever a rented GPU machine would be: a
real OpenSSH server on a free loopback port, with its own host key, accepting only the keys in
the user's ``~/.ssh/authorized_keys``, and a per-machine ``PATH`` whose first directory holds a
fake ``nvidia-smi`` (tests/fixtures/bin/nvidia-smi) configured by a ``gpu.json`` beside it. Each
machine can therefore have its own GPU count, GPU name, driver version or no GPU at all.

Needs root (``useradd``/``userdel``, sshd), ``/usr/sbin/sshd`` and ``ssh-keygen``.

Usage::

    from tests.support.sshd import Machine

    machine = Machine.start(base_dir, gpus=2, driver='570.124.06')
    machine.host, machine.port, machine.user        # where SSH answers, and as whom
    machine.key_path                                 # client private key (authorized)
    machine.known_hosts_line                         # '[127.0.0.1]:PORT ssh-ed25519 AAAA...'
    machine.ssh('uv --version')                      # run a command over real SSH
    machine.inventory_vars()                         # ansible_host/port/user/key/ssh args
    machine.set_gpus(count=0)                        # reconfigure its fake nvidia-smi
    machine.set_authorized_keys([public_key, ...])   # what ~/.ssh/authorized_keys accepts
    machine.drop_connections()                       # kill every live SSH session (by PID)
    machine.stop()                                   # "power off": sshd and the user's processes end
    machine.resume()                                 # sshd again (same host key, maybe a new port)
    machine.destroy()                                # also delete the user and its home

``Machine.start(authorized_keys=[...], client_key=False)`` makes a machine that trusts given
public keys only (a simulated cloud instance booted with the account's keys);
:class:`SshdMachines` is the ``machines`` backend of tests/fakes/base.py built on it
(``boot``/``authorize``/``stop``/``destroy``, one sshd per instance, several at once).

Layout: private material (host key, sshd config, PID file, log, client key, known_hosts) lives
in ``<base_dir>/<name>/`` (mode 0700); what the user must read (the ``bin`` directory with the
fake ``nvidia-smi`` and its ``gpu.json``) lives in a world-readable system directory under
``/tmp/nrg-machines/<name>``, because pytest's temporary directories are private to root.
Processes are only ever ended by PID: the sshd this helper started, the sessions it forked and
the processes owned by the throwaway user.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

SSHD = '/usr/sbin/sshd'
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKE_NVIDIA_SMI = os.path.join(REPO_ROOT, 'tests', 'fixtures', 'bin', 'nvidia-smi')
FAKE_NVIDIA_SMI_PY = os.path.join(REPO_ROOT, 'tests', 'fixtures', 'bin', 'fake_nvidia_smi.py')
DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin'
SYSTEM_ROOT = os.path.join(tempfile.gettempdir(), 'nrg-machines')

# How this host reaches package indexes (CA bundles of a TLS-inspecting proxy, proxies): a machine
# on this host shares its network, so its sessions get the same settings (inherit_network_env).
NETWORK_ENV_VARS = ('SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'PIP_CERT',
                    'GIT_SSL_CAINFO', 'UV_NATIVE_TLS', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY',
                    'http_proxy', 'https_proxy', 'no_proxy')

DEFAULT_GPU = dict(
    count=8,
    name='NVIDIA H100 80GB HBM3',
    driver='570.124.06',
    cuda='12.8',
    memory_total_mib=81559,
    memory_used_mib=0,
    utilization=0,
    failure=None,
)


class MachineError(RuntimeError):
    pass


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _check(cmd, **kwargs):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise MachineError('%s failed (rc=%d): %s' % (' '.join(cmd), proc.returncode, proc.stdout.strip()))
    return proc.stdout


def _proc_table():
    """{pid: (ppid, uid)} for every process visible in /proc."""
    table = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/status' % entry) as handle:
                fields = dict(line.split(':', 1) for line in handle if ':' in line)
            table[int(entry)] = (int(fields['PPid'].strip()), int(fields['Uid'].split()[0]))
        except (OSError, KeyError, ValueError):
            continue  # the process ended while we looked
    return table


def _descendants(pid):
    table = _proc_table()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, _uid) in table.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _kill(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    remaining = set(pids)
    while remaining and time.monotonic() < deadline:
        table = _proc_table()
        remaining = set(p for p in remaining if p in table)
        if remaining:
            time.sleep(0.02)
    return remaining


def _write_atomic(path, text, mode=0o644):
    tmp = '%s.tmp-%d' % (path, os.getpid())
    with open(tmp, 'w') as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Machine(object):
    """One throwaway machine: a Unix user, its home, its sshd. Create with :meth:`start`."""

    host = '127.0.0.1'

    def __init__(self, name, base_dir, system_dir, home):
        self.name = name
        self.user = name
        self.base_dir = base_dir
        self.system_dir = system_dir
        self.home = home
        self.private_dir = os.path.join(base_dir, name)
        self.sshd_dir = os.path.join(self.private_dir, 'sshd')
        self.client_dir = os.path.join(self.private_dir, 'client')
        self.bin_dir = os.path.join(system_dir, 'bin')
        self.gpu_config_path = os.path.join(self.bin_dir, 'gpu.json')
        self.config_path = os.path.join(self.sshd_dir, 'sshd_config')
        self.log_path = os.path.join(self.sshd_dir, 'sshd.log')
        self.pid_path = os.path.join(self.sshd_dir, 'sshd.pid')
        self.host_key_path = os.path.join(self.sshd_dir, 'ssh_host_ed25519_key')
        self.key_path = None
        self.public_key = None
        self.known_hosts_path = os.path.join(self.client_dir, 'known_hosts')
        self.port = None
        self.uid = None
        self.gid = None
        self.env = {}
        self._proc = None
        self._destroyed = False
        self.fixed_port = None

    # ------------------------------------------------------------------ creation
    @classmethod
    def start(cls, base_dir=None, name=None, gpus=8, gpu_name=None, driver=None, utilization=None,
              nvidia_smi=True, authorized_keys=(), client_key=True, env=None, extra_path=(),
              inherit_network_env=True, ready_timeout=15.0, listen_host=None, port=None, home_root=None,
              system_root=None):
        """Create the user, its keys and the fake GPU, start sshd, wait until it answers.

        - ``base_dir``: where the private files go (a directory only root needs to read);
          default: a new temporary directory.
        - ``gpus``, ``gpu_name``, ``driver``, ``utilization``: what the fake ``nvidia-smi``
          reports; ``nvidia_smi=False`` leaves it off the PATH (a machine without a driver).
        - ``authorized_keys``: public keys (OpenSSH one-line format) the user accepts;
          ``client_key=True`` also generates a key pair and authorizes it (``key_path``).
        - ``env``: extra variables every SSH session gets (sshd ``SetEnv``);
          ``extra_path``: directories put on the PATH after the fake GPU's ``bin``;
          ``inherit_network_env``: also pass this process's CA-bundle and proxy variables
          (:data:`NETWORK_ENV_VARS`), as a machine on this network would be configured.
        - ``listen_host``, ``port``: listen there (a loopback address such as 127.0.0.7, and e.g.
          port 22, as a Lambda Cloud machine does) instead of 127.0.0.1 on a free port; a given port
          is kept across :meth:`resume`.
        - ``home_root``, ``system_root``: where the home (default /home) and the world-readable
          system directory (default :data:`SYSTEM_ROOT`) are made; both must be reachable by the user.
        """
        if os.geteuid() != 0:
            raise MachineError('tests.support.sshd needs root (useradd, sshd)')
        name = name or 'nrg%s' % uuid.uuid4().hex[:10]
        if base_dir is None:
            base_dir = tempfile.mkdtemp(prefix='nrg-private-')
        system_root = system_root or SYSTEM_ROOT
        os.makedirs(system_root, exist_ok=True)
        os.chmod(system_root, 0o755)
        system_dir = os.path.join(system_root, name)
        machine = cls(name, base_dir, system_dir, os.path.join(home_root or '/home', name))
        if listen_host:
            machine.host = listen_host
        machine.fixed_port = port
        try:
            machine._create_user()
            machine._create_files(client_key, authorized_keys)
            gpu = dict(DEFAULT_GPU, count=gpus)
            for key, value in (('name', gpu_name), ('driver', driver), ('utilization', utilization)):
                if value is not None:
                    gpu[key] = value
            machine._write_gpu(gpu, nvidia_smi)
            machine.env = dict((k, os.environ[k]) for k in NETWORK_ENV_VARS if inherit_network_env and os.environ.get(k))
            machine.env.update(env or {})
            machine.env['PATH'] = ':'.join([machine.bin_dir] + list(extra_path) + [DEFAULT_PATH])
            machine._launch_sshd(ready_timeout, port=port)
        except BaseException:
            machine.destroy()
            raise
        return machine

    def _create_user(self):
        _check(['useradd', '--create-home', '--home-dir', self.home, '--shell', '/bin/bash',
                '--user-group', self.user])
        _check(['usermod', '-p', '*', self.user])  # not locked: sshd refuses locked accounts
        entry = pwd.getpwnam(self.user)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid

    def _create_files(self, client_key, authorized_keys):
        for path, mode in ((self.private_dir, 0o700), (self.sshd_dir, 0o700), (self.client_dir, 0o700),
                           (self.system_dir, 0o755), (self.bin_dir, 0o755)):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
        if not os.path.isdir('/run/sshd'):  # sshd's privilege separation directory
            os.makedirs('/run/sshd', 0o755)
        _check(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'host-%s' % self.name,
                '-f', self.host_key_path])
        keys = list(authorized_keys)
        if client_key:
            self.key_path = os.path.join(self.client_dir, 'id_ed25519')
            _check(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'client-%s' % self.name,
                    '-f', self.key_path])
            with open(self.key_path + '.pub') as handle:
                self.public_key = handle.read().strip()
            keys.append(self.public_key)
        self.set_authorized_keys(keys)

    def set_authorized_keys(self, keys):
        """Replace the user's ~/.ssh/authorized_keys (the client key, if any, stays accepted)."""
        keys = list(keys)
        if self.public_key and self.public_key not in keys:
            keys.append(self.public_key)
        ssh_dir = os.path.join(self.home, '.ssh')
        os.makedirs(ssh_dir, exist_ok=True)
        _write_atomic(os.path.join(ssh_dir, 'authorized_keys'), ''.join(k.strip() + '\n' for k in keys), 0o600)
        for path in (ssh_dir, os.path.join(ssh_dir, 'authorized_keys')):
            os.chown(path, self.uid, self.gid)
        os.chmod(ssh_dir, 0o700)

    def _write_sshd_config(self):
        lines = [
            '# sshd for test machine %s (tests/support/sshd.py)' % self.name,
            'Port %d' % self.port,
            'ListenAddress %s' % self.host,
            'HostKey %s' % self.host_key_path,
            'PidFile %s' % self.pid_path,
            'AuthorizedKeysFile .ssh/authorized_keys',
            'AllowUsers %s' % self.user,
            'UsePAM no',
            'StrictModes no',
            'PubkeyAuthentication yes',
            'PasswordAuthentication no',
            'KbdInteractiveAuthentication no',
            'PermitRootLogin no',
            'PrintMotd no',
            'PrintLastLog no',
            'MaxStartups 64:30:128',
            'MaxSessions 64',
            'LogLevel VERBOSE',
            'Subsystem sftp internal-sftp',
        ]
        # SetEnv reaches non-interactive sessions too (what Ansible and `ssh host cmd` get).
        lines.append('SetEnv %s' % ' '.join('%s=%s' % (k, shlex.quote(str(v))) for k, v in sorted(self.env.items())))
        _write_atomic(self.config_path, '\n'.join(lines) + '\n', 0o600)

    def _launch_sshd(self, ready_timeout, port=None):
        last_error = None
        for attempt in range(5):
            # A fixed port is kept (a machine whose API implies port 22); else a new free port.
            self.port = port if (port and (attempt == 0 or self.fixed_port)) else _free_port()
            self._write_sshd_config()
            with open(self.log_path, 'a') as log:
                log.write('--- start on port %d\n' % self.port)
            self._proc = subprocess.Popen([SSHD, '-D', '-f', self.config_path, '-E', self.log_path],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, close_fds=True)
            try:
                self._wait_ready(ready_timeout)
                break
            except MachineError as err:
                last_error = err
                self._stop_sshd()
                if 'Address already in use' not in self.read_log():
                    raise
        else:
            raise last_error
        with open(self.host_key_path + '.pub') as handle:
            key_type, key_b64 = handle.read().split()[:2]
        self.host_key = '%s %s' % (key_type, key_b64)
        _write_atomic(self.known_hosts_path, self.known_hosts_line + '\n', 0o600)

    def _wait_ready(self, timeout):
        """Until sshd sends its SSH banner on the port (or exits, or time runs out)."""
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise MachineError('sshd for %s exited with %s: %s' % (self.name, self._proc.returncode, self.read_log()[-2000:]))
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                    if sock.recv(64).startswith(b'SSH-2.0-'):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise MachineError('sshd for %s did not answer on port %d within %.0fs' % (self.name, self.port, timeout))
            time.sleep(0.02)

    # ------------------------------------------------------------------ the fake GPU
    def _write_gpu(self, gpu, nvidia_smi=True):
        _write_atomic(self.gpu_config_path, json.dumps(gpu, indent=2, sort_keys=True) + '\n')
        target = os.path.join(self.bin_dir, 'nvidia-smi')
        if nvidia_smi:
            if not os.path.exists(target):
                shutil.copy(FAKE_NVIDIA_SMI_PY, os.path.join(self.bin_dir, 'fake_nvidia_smi.py'))
                shutil.copy(FAKE_NVIDIA_SMI, target + '.tmp')
                os.chmod(target + '.tmp', 0o755)
                os.replace(target + '.tmp', target)
        elif os.path.exists(target):
            os.unlink(target)

    @property
    def gpu(self):
        with open(self.gpu_config_path) as handle:
            return json.load(handle)

    def set_gpus(self, nvidia_smi=True, **changes):
        """Change what the fake ``nvidia-smi`` reports: count, name, driver, utilization,
        memory_total_mib, memory_used_mib, failure (None, 'no_devices' or 'driver');
        ``nvidia_smi=False`` removes it from the machine. Returns the previous settings."""
        before = dict(self.gpu, nvidia_smi=os.path.exists(os.path.join(self.bin_dir, 'nvidia-smi')))
        unknown = set(changes) - set(DEFAULT_GPU)
        if unknown:
            raise MachineError('unknown GPU settings: %s' % ', '.join(sorted(unknown)))
        gpu = dict(self.gpu, **changes)
        self._write_gpu(gpu, nvidia_smi)
        return before

    def restore_gpus(self, before):
        before = dict(before)
        nvidia_smi = before.pop('nvidia_smi', True)
        self._write_gpu(before, nvidia_smi)

    # ------------------------------------------------------------------ using it
    @property
    def known_hosts_line(self):
        name = self.host if self.port == 22 else '[%s]:%d' % (self.host, self.port)
        return '%s %s' % (name, self.host_key)

    def ssh_options(self):
        """OpenSSH options that reach this machine as its user and trust only its host key.

        ``-F /dev/null`` keeps the caller's ~/.ssh/config (which other tools may edit) out.
        """
        opts = ['-F', '/dev/null', '-o', 'UserKnownHostsFile=%s' % self.known_hosts_path,
                '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
                '-o', 'ConnectTimeout=10']
        if self.key_path:
            opts += ['-i', self.key_path]
        return opts

    def ssh_command(self, command):
        return ['ssh'] + self.ssh_options() + ['-p', str(self.port), '%s@%s' % (self.user, self.host), command]

    def ssh(self, command, check=True, timeout=60, input=None):  # pylint: disable=redefined-builtin
        """Run ``command`` on the machine over real SSH; returns CompletedProcess (text)."""
        proc = subprocess.run(self.ssh_command(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, input=input, check=False)
        if check and proc.returncode != 0:
            raise MachineError('ssh %s %r failed (rc=%d): %s%s' % (self.name, command, proc.returncode, proc.stdout, proc.stderr))
        return proc

    def inventory_vars(self):
        """Host variables for an Ansible inventory entry that reaches this machine over SSH."""
        common = ' '.join(shlex.quote(o) for o in ['-F', '/dev/null', '-o', 'UserKnownHostsFile=%s' % self.known_hosts_path,
                                                   '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes'])
        host_vars = dict(ansible_host=self.host, ansible_port=self.port, ansible_user=self.user,
                         ansible_ssh_common_args=common)
        if self.key_path:
            host_vars['ansible_ssh_private_key_file'] = self.key_path
        return host_vars

    def read_log(self):
        try:
            with open(self.log_path) as handle:
                return handle.read()
        except OSError:
            return ''

    def path(self, *parts):
        """A path in the user's home, as seen from this (root) side."""
        return os.path.join(self.home, *parts)

    def user_processes(self):
        return [pid for pid, (_ppid, uid) in _proc_table().items() if uid == self.uid]

    # ------------------------------------------------------------------ connections and power
    def session_pids(self):
        """PIDs of every live SSH session of this machine (children of its sshd, recursively)."""
        if self._proc is None or self._proc.poll() is not None:
            return []
        return _descendants(self._proc.pid)

    def drop_connections(self, timeout=10.0):
        """Cut every SSH connection the way a network drop or a dead laptop would: SIGKILL the
        sshd session processes (and what they run in the foreground). Daemonized processes
        (tmux servers, nohup'd jobs that left the session) survive, as on a real machine.
        Returns the PIDs killed."""
        pids = self.session_pids()
        _kill(pids)
        left = _wait_gone(pids, timeout)
        if left:
            raise MachineError('sessions of %s still alive after SIGKILL: %s' % (self.name, sorted(left)))
        return pids

    def _stop_sshd(self):
        if self._proc is None:
            return
        children = _descendants(self._proc.pid) if self._proc.poll() is None else []
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        _kill(children)
        _wait_gone(children, 10.0)
        self._proc = None

    def _kill_user_processes(self, timeout=10.0):
        if self.uid is None:
            return
        for _round in range(5):
            pids = self.user_processes()
            if not pids:
                return
            _kill(pids)
            _wait_gone(pids, timeout)
        left = self.user_processes()
        if left:
            raise MachineError('processes of %s survived SIGKILL: %s' % (self.user, left))

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    def stop(self):
        """Power off: sshd stops and every process of the user ends; the disk (home) stays."""
        self._stop_sshd()
        self._kill_user_processes()

    def resume(self, ready_timeout=15.0):
        """Power on again: same user, home and host key; the port may change (check .port)."""
        if self.running:
            return
        self._launch_sshd(ready_timeout, port=self.fixed_port or self.port)

    def destroy(self):
        """Stop, then delete the user, its home, its tmux sockets and every file of this machine."""
        if self._destroyed:
            return
        self._destroyed = True
        self._stop_sshd()
        self._kill_user_processes()
        if self.uid is not None:
            subprocess.run(['userdel', '--remove', self.user], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            shutil.rmtree(os.path.join(tempfile.gettempdir(), 'tmux-%d' % self.uid), ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.system_dir, ignore_errors=True)
        shutil.rmtree(self.private_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    def __repr__(self):
        return '<Machine %s %s@%s:%s>' % (self.name, self.user, self.host, self.port)


class SshdMachines(object):
    """``machines`` backend for tests/fakes/base.py: each booted instance is a real :class:`Machine`.

    ``boot`` returns the endpoint the provider would report ({host, port, user}); the user is
    the machine's throwaway account (the requested ``ssh_user`` cannot be created for real:
    'root' exists and 'ubuntu' may). ``stop`` powers the machine off (home kept), a second
    ``boot`` of the same instance powers it on again, ``destroy`` deletes it.

    - ``user_prefix``: name each machine's account ``<prefix><instance name>`` (see
      :meth:`user_name`), so that a client knowing the instance name knows the user, as it knows
      an image's fixed user. Without it, accounts get random names.
    - ``port22``: providers whose API implies port 22 (Lambda Cloud reports only an IP): their
      machines listen on port 22 of their own loopback address, 127.0.0.2 and up
      (127.0.0.$NRG_TEST_LOOPBACK_FIRST and up when that is set).
    """

    def __init__(self, base_dir=None, user_prefix=None, port22=(), **machine_options):
        self.base_dir = base_dir or tempfile.mkdtemp(prefix='nrg-fleet-')
        self.user_prefix = user_prefix
        self.port22 = tuple(port22)
        self.machine_options = machine_options
        self.machines = {}

    def user_name(self, instance_name):
        """The account of the machine of instance ``instance_name``: a valid Unix user name."""
        cleaned = re.sub(r'[^a-z0-9-]', '-', (instance_name or '').lower()).strip('-') or 'machine'
        return (self.user_prefix + cleaned)[:32]

    def _free_loopback(self):
        """A loopback address whose port 22 nobody holds."""
        taken = set(m.host for m in self.machines.values())
        # NRG_TEST_LOOPBACK_FIRST: where this test run's addresses start, so that two runs at the
        # same time (make test runs both ansible-core lines' pytest at once) never probe the same
        # address between one's probe and its sshd's bind.
        first = int(os.environ.get('NRG_TEST_LOOPBACK_FIRST') or 2)
        for last in list(range(first, 255)) + list(range(2, first)):
            address = '127.0.0.%d' % last
            if address in taken:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((address, 22))
                except OSError:
                    continue
            return address
        raise MachineError('no loopback address with a free port 22')

    def boot(self, provider, instance_id, public_keys, ssh_user, name=None):  # pylint: disable=unused-argument
        machine = self.machines.get((provider, instance_id))
        if machine is None:
            options = dict(self.machine_options)
            if self.user_prefix:
                options['name'] = self.user_name(name)
            if provider in self.port22:
                options.update(listen_host=self._free_loopback(), port=22)
            machine = Machine.start(self.base_dir, authorized_keys=public_keys, client_key=False, **options)
            self.machines[(provider, instance_id)] = machine
        else:
            machine.resume()
        return dict(host=machine.host, port=machine.port, user=machine.user)

    def authorize(self, provider, instance_id, public_keys):
        """Keys added to a running instance (Vast.ai adds account keys to current instances)."""
        machine = self.machines.get((provider, instance_id))
        if machine is not None:
            machine.set_authorized_keys(public_keys)

    def stop(self, provider, instance_id):
        machine = self.machines.get((provider, instance_id))
        if machine is not None:
            machine.stop()

    def destroy(self, provider, instance_id):
        machine = self.machines.pop((provider, instance_id), None)
        if machine is not None:
            machine.destroy()

    def destroy_all(self):
        for key in list(self.machines):
            self.destroy(*key)
