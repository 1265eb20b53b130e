# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A simulated cloud on this machine: a provider's strict fake API whose instances are real machines.

:class:`SimCloud` starts one provider's fake (tests/fakes) with the documented rate limits, on
127.0.0.1, and plugs in :class:`tests.support.sshd.SshdMachines`: when the fake boots an instance,
a throwaway Unix user with its own sshd (and a fake nvidia-smi with 8 GPUs) comes up, trusting
exactly the public keys the real instance would trust. The collection's playbooks, modules and
inventory plugin are pointed at it through the same environment variables as the real API
(``RUNPOD_API_URL``/``RUNPOD_API_KEY`` and so on): nothing in the code paths is simulated but the
provider and the machine.

Where the provider's API implies the SSH user (Vast.ai: root, Lambda Cloud: ubuntu), the machine
cannot have that account for real; its account is ``<prefix><instance name>``
(:meth:`SimCloud.ssh_user`), and callers pass it as the ``ssh_user`` override a custom image would
need too. RunPod reports the user in ``ssh.direct.username``. Lambda Cloud implies port 22, so
its machines listen on port 22 of their own loopback address (127.0.0.2 and up).

Everything lives under ``work_dir``: the machines' private files, homes and fake GPU tools. The
machines' Unix users are deleted by :meth:`SimCloud.close`.
"""

from __future__ import annotations

import os
import stat
import uuid

from tests.fakes import fake_class
from tests.support.sshd import SshdMachines

PROVIDER_ENV = {
    'runpod': ('RUNPOD_API_URL', 'RUNPOD_API_KEY'),
    'lambda': ('LAMBDA_API_URL', 'LAMBDA_API_KEY'),
    'vastai': ('VAST_API_URL', 'VAST_API_KEY'),
}

# The Lambda instance types (and regions) the simulated Lambda account has capacity for.
LAMBDA_CAPACITY = {
    'gpu_8x_h100_sxm5': ['us-east-1', 'us-west-1'],
    'gpu_1x_h100_pcie': ['us-east-1'],
    'gpu_8x_a100_80gb_sxm4': ['us-west-1'],
}


def _check_reachable(path):
    """The machines' users must reach their homes under ``path``: every directory on the way
    needs the others' execute bit (pytest's tmp_path, under a 0700 directory, does not have it)."""
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            raise ValueError('%s is not reachable by other users (mode %o): the simulated machines\' users could not '
                             'reach their homes; use a directory such as tempfile.mkdtemp() made 0755'
                             % (path, stat.S_IMODE(os.stat(path).st_mode)))
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


class KeylessMachines(SshdMachines):
    """Machines whose sshd answers but never gets the instance's keys: "provisioned, but SSH
    never ready", as when a container image does not install the key (RunPod, Vast.ai)."""

    def boot(self, provider, instance_id, public_keys, ssh_user, name=None):
        return super(KeylessMachines, self).boot(provider, instance_id, [], ssh_user, name=name)

    def authorize(self, provider, instance_id, public_keys):
        pass


class SimCloud(object):
    """One provider's fake API, started, with real sshd machines as instances.

    ``keyless=True`` makes machines that never accept any key (SSH never ready).
    """

    def __init__(self, provider, work_dir, boot_delay=2.0, api_key=None, keyless=False, **fake_options):
        self.provider = provider
        self.work_dir = os.path.abspath(work_dir)
        _check_reachable(os.path.dirname(self.work_dir))
        self.api_key = api_key or 'sim-%s-key-%s' % (provider, uuid.uuid4().hex[:12])
        for sub, mode in (('', 0o755), ('machines', 0o700), ('homes', 0o755), ('tools', 0o755)):
            path = os.path.join(self.work_dir, sub)
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
        machines_class = KeylessMachines if keyless else SshdMachines
        self.machines = machines_class(
            base_dir=os.path.join(self.work_dir, 'machines'), user_prefix='sim%s-' % uuid.uuid4().hex[:4],
            port22=('lambda',), home_root=os.path.join(self.work_dir, 'homes'),
            system_root=os.path.join(self.work_dir, 'tools'))
        self.fake = fake_class(provider)(api_key=self.api_key, boot_delay=boot_delay, machines=self.machines,
                                         **fake_options)
        if provider == 'lambda':
            for instance_type, regions in LAMBDA_CAPACITY.items():
                self.fake.set_capacity(instance_type, regions)

    def start(self):
        self.fake.start()
        return self

    @property
    def url(self):
        return self.fake.url

    @property
    def env(self):
        """The environment variables that point the collection at this cloud."""
        url_var, key_var = PROVIDER_ENV[self.provider]
        return {url_var: self.url, key_var: self.api_key}

    def ssh_user(self, instance_name):
        """The user to log in as on instance ``instance_name``: None where the API reports it."""
        if self.provider == 'runpod':
            return None
        return self.machines.user_name(instance_name)

    def machine(self, instance_name):
        """The running machine behind the instance named ``instance_name``, or None."""
        user = self.machines.user_name(instance_name)
        for machine in self.machines.machines.values():
            if machine.user == user:
                return machine
        return None

    def close(self):
        """Stop the API, and destroy every machine (users, homes, processes)."""
        try:
            self.fake.stop()
        finally:
            self.machines.destroy_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
