# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: gpu_instances
short_description: GPU instances on RunPod, Lambda Cloud and Vast.ai as Ansible hosts
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Lists the instances of the configured providers (one list request per provider per refresh,
    plus pagination; none when the cache is fresh) and makes each one a host named after the
    instance (RunPod pod name, Lambda instance name, Vast.ai label).
  - C(ansible_host), C(ansible_port) and C(ansible_user) come from the instance's SSH endpoint
    (RunPod C(ssh.direct), Lambda C(ip) port 22 as V(ubuntu), Vast.ai direct port or proxy as V(root)).
  - Every field of the normalized instance becomes a host variable under O(hostvar_prefix)
    (C(instance_status), C(instance_gpu_type), C(instance_price_per_hour), ...).
  - "Default groups: C(gpu_instances) (every instance), one per provider (C(runpod), C(lambda),
    C(vastai)), one per status (C(status_running), C(status_pending), ...), and O(ready_group)
    for the instances that can be connected to."
  - Instances without an SSH endpoint yet (booting, stopped) are listed with their variables and
    status groups, but get no C(ansible_host) and are not in O(ready_group), so plays that target
    O(ready_group) never try to reach them.
  - Data from the provider APIs is never templated (it is marked unsafe).
  - The inventory file name must end in C(.gpu_instances.yml) or C(.gpu_instances.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - nanochat.remote_gpu.runpod.plugins
  - nanochat.remote_gpu.lambda_cloud.plugins
  - nanochat.remote_gpu.vastai.plugins
options:
  plugin:
    description: Marks this file as a configuration for this plugin.
    type: str
    required: true
    choices: [nanochat.remote_gpu.gpu_instances]
  providers:
    description:
      - The providers to list. Each needs its API key (option or environment variable).
    type: list
    elements: str
    choices: [runpod, lambda, vastai]
    required: true
  name_filter:
    description:
      - Keep only instances whose name matches this shell-style pattern (C(nanochat*)).
    type: str
  filters:
    description:
      - Keep only instances whose normalized fields match. Each key is a field (C(status),
        C(provider), C(gpu_type), C(region), ...); the value is one accepted value or a list of them.
    type: dict
    default: {}
  hostvar_prefix:
    description: Prefix of the host variables holding the normalized instance fields.
    type: str
    default: instance_
  include_raw:
    description:
      - Also set C(<prefix>raw), the provider's own object. Secret values in it (tokens, keys,
        passwords, secret environment variables) are replaced by C(********).
    type: bool
    default: false
  ready_group:
    description:
      - Group of the instances that can be connected to (running, SSH endpoint known). The
        collection's playbooks target it by default.
    type: str
    default: nanochat
  ssh_user:
    description:
      - Log in as this user instead of the one the provider implies (V(root) on RunPod and
        Vast.ai, V(ubuntu) on Lambda Cloud), for custom images.
    type: str
  ssh_private_key_file:
    description:
      - Private key for the connections (C(ansible_ssh_private_key_file)); unset means SSH's defaults.
    type: path
  known_hosts_file:
    description:
      - The known_hosts file the C(nanochat.remote_gpu.ssh_config) role fills with each instance's
        host key (keyed by the host name). When O(host_key_checking=pinned), connections check
        the host key against it.
    type: path
    default: ~/.ssh/nanochat_remote_gpu_known_hosts
  host_key_checking:
    description:
      - V(pinned) sets C(ansible_ssh_common_args) so that the host key must match the one recorded
        in O(known_hosts_file) under the host's name (C(HostKeyAlias)), with
        C(StrictHostKeyChecking yes). V(default) leaves host key checking to your SSH settings.
    type: str
    choices: [pinned, default]
    default: pinned
"""

EXAMPLES = r"""
# inventory/runpod.gpu_instances.yml - pods named nanochat*, RUNPOD_API_KEY from the environment
plugin: nanochat.remote_gpu.gpu_instances
providers: [runpod]
name_filter: "nanochat*"

# inventory/all.gpu_instances.yml - every provider, grouped by GPU type and region
plugin: nanochat.remote_gpu.gpu_instances
providers: [runpod, lambda, vastai]
keyed_groups:
  - key: instance_gpu_type
    prefix: gpu
  - key: instance_region
    prefix: region
compose:
  hourly_cost: instance_price_per_hour
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/nanochat_remote_gpu_inventory
cache_timeout: 300
"""

import fnmatch
import os
import shlex

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import HAS_REQUESTS, ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import PROVIDERS, make_client
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import INSTANCE_KEYS, ssh_ready

PROVIDER_GROUPS = ('runpod', 'lambda', 'vastai')


def adapter_for(provider, client):
    """The provider's adapter (imported lazily so one provider's problem cannot break the others)."""
    if provider == 'runpod':
        from ansible_collections.nanochat.remote_gpu.plugins.module_utils._runpod import RunPodApi
        return RunPodApi(client)
    if provider == 'lambda':
        from ansible_collections.nanochat.remote_gpu.plugins.module_utils._lambda import LambdaApi
        return LambdaApi(client)
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils._vastai import VastApi
    return VastApi(client)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'nanochat.remote_gpu.gpu_instances'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('.gpu_instances.yml', '.gpu_instances.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if not HAS_REQUESTS:
            raise AnsibleError('the gpu_instances inventory needs the Python library "requests"')

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        instances = None
        if use_cache:
            try:
                instances = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if instances is None:
            instances = self._fetch()
        if update_cache:
            self._cache[cache_key] = instances
        self._populate(instances)

    def _fetch(self):
        """One list request per provider (plus pagination). Returns normalized instances."""
        instances = []
        for provider in self.get_option('providers'):
            key = self.get_option('%s_api_key' % provider)
            if not key:
                raise AnsibleError('gpu_instances: no %s API key: set %s or %s_api_key in the inventory file'
                                   % (provider, PROVIDERS[provider]['key_env'], provider))
            client = make_client(provider, key, self.get_option('%s_api_url' % provider))
            try:
                listed = adapter_for(provider, client).list_instances()
            except ApiError as exc:
                raise AnsibleError('gpu_instances: listing %s instances failed: %s' % (provider, to_native(exc)))
            for instance in listed:
                if not self.get_option('include_raw'):
                    instance = dict(instance, raw={})
                instances.append(instance)
        return instances

    def _wanted(self, instance):
        pattern = self.get_option('name_filter')
        if pattern and not fnmatch.fnmatchcase(instance.get('name') or '', pattern):
            return False
        for field, accepted in (self.get_option('filters') or {}).items():
            if field not in INSTANCE_KEYS:
                raise AnsibleError('gpu_instances: unknown filter field %r; fields: %s' % (field, ', '.join(INSTANCE_KEYS)))
            accepted = accepted if isinstance(accepted, list) else [accepted]
            if instance.get(field) not in accepted:
                return False
        return True

    def _host_name(self, instance, taken):
        name = instance.get('name') or '%s_%s' % (instance['provider'], instance['id'])
        if name in taken:
            unique = '%s_%s_%s' % (name, instance['provider'], instance['id'])
            self.display.warning('gpu_instances: more than one instance is named %r; this one (%s %s) is listed as %r'
                                 % (name, instance['provider'], instance['id'], unique))
            name = unique
        return name

    def _populate(self, instances):
        prefix = self.get_option('hostvar_prefix')
        ready_group = self.get_option('ready_group')
        strict = self.get_option('strict')
        for group in ('gpu_instances',) + PROVIDER_GROUPS + (ready_group,):
            self.inventory.add_group(group)
        taken = set()
        for instance in instances:
            if not self._wanted(instance):
                continue
            host = self._host_name(instance, taken)
            taken.add(host)
            self.inventory.add_host(host, group='gpu_instances')
            self.inventory.add_child(instance['provider'], host)
            status_group = self.inventory.add_group('status_%s' % instance['status'])
            self.inventory.add_child(status_group, host)
            for field in INSTANCE_KEYS:
                if field == 'raw' and not self.get_option('include_raw'):
                    continue
                self.inventory.set_variable(host, prefix + field, wrap_var(instance.get(field)))
            if ssh_ready(instance):
                self._set_connection(host, instance)
                self.inventory.add_child(ready_group, host)
            hostvars = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(self.get_option('compose'), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), hostvars, host, strict=strict)

    def _set_connection(self, host, instance):
        self.inventory.set_variable(host, 'ansible_host', wrap_var(instance['ssh_host']))
        self.inventory.set_variable(host, 'ansible_port', instance['ssh_port'])
        self.inventory.set_variable(host, 'ansible_user', wrap_var(self.get_option('ssh_user') or instance['ssh_user']))
        key_file = self.get_option('ssh_private_key_file')
        if key_file:
            self.inventory.set_variable(host, 'ansible_ssh_private_key_file', key_file)
        if self.get_option('host_key_checking') == 'pinned':
            known_hosts = os.path.expanduser(self.get_option('known_hosts_file'))
            args = '-o UserKnownHostsFile=%s -o HostKeyAlias=%s -o StrictHostKeyChecking=yes' % (
                shlex.quote(known_hosts), shlex.quote(host))
            self.inventory.set_variable(host, 'ansible_ssh_common_args', args)
