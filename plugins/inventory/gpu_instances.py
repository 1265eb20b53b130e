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
  - Lists the instances of the configured providers and makes each one a host named after the
    instance (RunPod pod name, Lambda instance name, Vast.ai label).
  - One list request per provider per refresh, plus pagination (Vast.ai answers 25 instances a
    page); none at all while the cache is fresh. The providers are listed in parallel.
  - C(ansible_host), C(ansible_port) and C(ansible_user) come from the instance's SSH endpoint
    (RunPod C(ssh.direct), Lambda C(ip) port 22 as V(ubuntu), Vast.ai direct port or proxy as V(root)).
  - Every field of the normalized instance becomes a host variable under O(hostvar_prefix)
    (C(instance_provider), C(instance_id), C(instance_name), C(instance_status),
    C(instance_provider_status), C(instance_ssh_host), C(instance_ssh_port), C(instance_ssh_user),
    C(instance_gpu_type), C(instance_gpu_count), C(instance_price_per_hour), C(instance_region);
    C(instance_raw) with O(include_raw)).
  - "Default groups: C(gpu_instances) (every instance), one per provider (C(runpod), C(lambda),
    C(vastai)), one per status (C(status_pending), C(status_running), C(status_stopped),
    C(status_terminated), C(status_failed)), and O(ready_group) for the instances that can be
    connected to. These groups exist even when empty."
  - Instances without an SSH endpoint yet (booting, stopped) are listed with their variables and
    status groups, but get no C(ansible_host) and are not in O(ready_group), so plays that target
    O(ready_group) never try to reach them. A play that targets C(all) or C(gpu_instances) would
    try to connect to them by name, so target O(ready_group).
  - Data from the provider APIs is never templated (it is marked unsafe), including instance names
    used as host names.
  - The inventory file name must end in C(.gpu_instances.yml) or C(.gpu_instances.yaml).
  - >-
    The API key and URL options, O(ssh_user), O(ssh_private_key_file) and O(known_hosts_file) are
    templated, so C({{ lookup('ansible.builtin.env', 'MY_RUNPOD_KEY') }}) or another lookup works
    (an inline C(!vault) value works too). An inventory source sees no inventory variables
    (C(group_vars), C(host_vars)); a template naming one fails, saying which option.
requirements:
  - requests >= 2.28 (on the control node)
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
      - The providers to list. Each needs its API key (option or environment variable). When a
        key is missing the inventory fails before anything is sent to any provider.
    type: list
    elements: str
    choices: [runpod, lambda, vastai]
    required: true
  name_filter:
    description:
      - Keep only instances whose name matches this shell-style pattern (C(nanochat*)).
        Instances without a name never match.
    type: str
  filters:
    description:
      - Keep only instances whose normalized fields match. Each key is a field (C(provider),
        C(id), C(name), C(status), C(provider_status), C(ssh_host), C(ssh_port), C(ssh_user),
        C(gpu_type), C(gpu_count), C(price_per_hour), C(region)); the value is one accepted value or
        a list of them, compared for equality. An unknown field is an error.
      - Filters apply to what was listed (from the API or the cache); they do not change the
        requests sent.
    type: dict
    default: {}
  hostvar_prefix:
    description: Prefix of the host variables holding the normalized instance fields.
    type: str
    default: instance_
  include_raw:
    description:
      - Also set C(<prefix>raw), the provider's own object. Secret values in it (tokens, keys,
        passwords, secret environment variables) are replaced by C(********), also in the cache.
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
        C(StrictHostKeyChecking yes). An instance whose key was not recorded yet (by
        C(nanochat.remote_gpu.ssh_ready) and the C(nanochat.remote_gpu.ssh_config) role) cannot be
        connected to. This replaces any C(ssh_common_args) from your Ansible configuration for
        these hosts.
      - V(default) sets no C(ansible_ssh_common_args) and leaves host key checking to your SSH
        and Ansible settings.
    type: str
    choices: [pinned, default]
    default: pinned
notes:
  - When several instances have the same name, the first one listed (in the order of
    O(providers), then the provider's order) keeps it; each other one becomes the host
    C(<name>_<provider>_<id>) and a warning says so. An instance without a name becomes
    C(<provider>_<id>).
  - A missing API key fails before anything is sent, naming the environment variable. An API error
    names the provider, the request, the HTTP status and the API's message; a refused key also says
    which variable to check. Keys never appear in messages. Like every inventory source, a source that
    fails is reported as a warning and skipped, unless C(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true)
    (C([inventory] any_unparsed_is_failed)) makes it fatal; playbooks that must not run on a partial
    inventory should set it.
  - Rate limits are respected on the client side, shared between processes. Lambda Cloud allows one
    request per second. Vast.ai lists 25 instances a page and allows about one list request per
    second, so an account with N Vast.ai instances takes about N/25 seconds to list.
  - The cache holds the normalized instances (the raw objects only with O(include_raw), scrubbed),
    never an API key. Its key covers the file path, O(providers), the API URLs and
    O(include_raw), so changing them lists again instead of answering from an older cache.
    C(ansible-inventory --flush-cache) forces a refresh.
"""

EXAMPLES = r"""
# inventory/runpod.gpu_instances.yml - pods named nanochat*, RUNPOD_API_KEY from the environment
plugin: nanochat.remote_gpu.gpu_instances
providers: [runpod]
name_filter: "nanochat*"

---
# inventory/all.gpu_instances.yml - every provider, grouped by GPU type and region, cached 5 minutes
plugin: nanochat.remote_gpu.gpu_instances
providers: [runpod, lambda, vastai]
keyed_groups:
  - key: instance_gpu_type
    prefix: gpu
  - key: instance_region
    prefix: region
groups:
  expensive: instance_price_per_hour > 10
compose:
  hourly_cost: instance_price_per_hour
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/nanochat_remote_gpu_inventory
cache_timeout: 300

---
# Running Lambda Cloud instances only, logging in with a given key and a custom image's user
plugin: nanochat.remote_gpu.gpu_instances
providers: [lambda]
filters:
  status: running
ssh_user: admin
ssh_private_key_file: ~/.ssh/id_ed25519
"""

import concurrent.futures
import fnmatch
import hashlib
import json
import os
import shlex

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import HAS_REQUESTS, PROVIDER_LABELS, ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import PROVIDERS, make_client
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import INSTANCE_KEYS, STATUSES, ssh_ready

PROVIDER_GROUPS = ('runpod', 'lambda', 'vastai')
# Options whose values may be templates (lookups), as in amazon.aws and hetzner.hcloud.
TEMPLATED_OPTIONS = frozenset(['%s_api_%s' % (p, what) for p in PROVIDER_GROUPS for what in ('key', 'url')]
                              + ['ssh_user', 'ssh_private_key_file', 'known_hosts_file'])
# Fields O(filters) may name: every normalized field but the provider's raw object.
FILTER_FIELDS = tuple(k for k in INSTANCE_KEYS if k != 'raw')
# Error codes that mean "the key was refused" even when the status is not 401 (Vast.ai can
# answer a wrong key with 404 auth_error).
AUTH_CODES = ('auth_error', 'invalid_token', 'global/invalid-api-key')


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


def describe_api_error(provider, error):
    """A complete message for a failed list call; a refused key names where the key comes from."""
    text = 'listing %s instances failed: %s' % (PROVIDER_LABELS[provider], to_native(error))
    if error.status == 401 or error.code in AUTH_CODES:
        text = '%s. Check the key in %s (or %s_api_key in the inventory file): %s refused it' % (
            text.rstrip('.'), PROVIDERS[provider]['key_env'], provider, PROVIDER_LABELS[provider])
    return text


def valid_cached(instances):
    """Cached data this version can use: a list of normalized instances."""
    return isinstance(instances, list) and all(
        isinstance(i, dict) and i.get('provider') in PROVIDER_GROUPS and i.get('id') is not None and i.get('status') in STATUSES
        for i in instances)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'nanochat.remote_gpu.gpu_instances'

    def get_option(self, option, hostvars=None):
        value = super(InventoryModule, self).get_option(option, hostvars=hostvars)
        if option in TEMPLATED_OPTIONS and isinstance(value, str) and self.templar.is_template(value):
            templar = self.templar
            templar.available_variables = {}
            try:
                value = templar.template(value)
            except Exception as exc:  # pylint: disable=broad-except
                # the error names the undefined variable or the failing lookup, never the value
                raise AnsibleError('gpu_instances: could not template the option %s: %s. An inventory source sees no '
                                   'inventory variables (group_vars, host_vars): use a lookup (for example '
                                   "\"{{ lookup('ansible.builtin.env', 'MY_KEY') }}\") or an inline !vault value"
                                   % (option, to_native(exc)))
            value = to_native(value) if value is not None else None
            if option in ('ssh_private_key_file', 'known_hosts_file') and value:
                value = os.path.expanduser(value)
        return value

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('.gpu_instances.yml', '.gpu_instances.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if not HAS_REQUESTS:
            raise AnsibleError('the gpu_instances inventory needs the Python library "requests" on the control node '
                               '(pip install requests)')
        providers = self._providers()
        self._check_filters()

        cache_key = self._cache_key(path, providers)
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        instances = None
        if use_cache:
            try:
                instances = self._cache[cache_key]
            except KeyError:
                update_cache = True
            else:
                if not valid_cached(instances):
                    instances = None
                    update_cache = True
        if instances is None:
            instances = self._fetch(providers)
        if update_cache:
            self._cache[cache_key] = instances
        self._populate(instances)

    def _providers(self):
        providers = list(dict.fromkeys(self.get_option('providers') or []))
        if not providers:
            raise AnsibleError('gpu_instances: providers must name at least one of %s' % ', '.join(PROVIDER_GROUPS))
        return providers

    def _check_filters(self):
        filters = self.get_option('filters') or {}
        unknown = sorted(str(field) for field in filters if field not in FILTER_FIELDS)
        if unknown:
            raise AnsibleError('gpu_instances: unknown filter field(s) %s; filters can use: %s'
                               % (', '.join(unknown), ', '.join(FILTER_FIELDS)))

    def _cache_key(self, path, providers):
        """The usual per-file key plus a digest of what decides the listing (providers, API URLs,
        include_raw; never a key), so that changing them is not answered from an old cache."""
        settings = dict(providers=sorted(providers), include_raw=bool(self.get_option('include_raw')),
                        urls=dict((p, self.get_option('%s_api_url' % p)) for p in providers))
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode('utf-8')).hexdigest()[:8]
        return '%s_%s' % (self.get_cache_key(path), digest)

    def _fetch(self, providers):
        """One list request per provider (plus pagination), the providers in parallel.

        Every key is checked before anything is sent. Returns normalized instances, in the order
        of O(providers), then the provider's own order.
        """
        keys = dict((p, self.get_option('%s_api_key' % p)) for p in providers)
        missing = [p for p in providers if not keys[p]]
        if missing:
            raise AnsibleError('gpu_instances: no API key for %s: set %s (or %s in the inventory file, e.g. from '
                               'Ansible Vault). Nothing was sent to any provider.'
                               % (', '.join(PROVIDER_LABELS[p] for p in missing),
                                  ' / '.join(PROVIDERS[p]['key_env'] for p in missing),
                                  ' / '.join('%s_api_key' % p for p in missing)))
        clients = dict((p, make_client(p, keys[p], self.get_option('%s_api_url' % p))) for p in providers)

        def list_one(provider):
            return adapter_for(provider, clients[provider]).list_instances()

        if len(providers) == 1:
            outcomes = {}
            try:
                outcomes[providers[0]] = (list_one(providers[0]), None)
            except ApiError as exc:
                outcomes[providers[0]] = (None, exc)
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(providers)) as pool:
                futures = dict((p, pool.submit(list_one, p)) for p in providers)
            outcomes = {}
            for provider in providers:
                try:
                    outcomes[provider] = (futures[provider].result(), None)
                except ApiError as exc:
                    outcomes[provider] = (None, exc)
        errors = [describe_api_error(p, outcomes[p][1]) for p in providers if outcomes[p][1] is not None]
        if errors:
            raise AnsibleError('gpu_instances: %s' % '; '.join(errors))

        include_raw = self.get_option('include_raw')
        instances = []
        for provider in providers:
            for instance in outcomes[provider][0]:
                instances.append(instance if include_raw else dict(instance, raw={}))
        return instances

    def _wanted(self, instance, pattern, filters):
        if pattern and not fnmatch.fnmatchcase(instance.get('name') or '', pattern):
            return False
        for field, accepted in filters.items():
            accepted = accepted if isinstance(accepted, list) else [accepted]
            if instance.get(field) not in accepted:
                return False
        return True

    def _host_name(self, instance, taken):
        name = instance.get('name') or '%s_%s' % (instance['provider'], instance['id'])
        if name in taken:
            unique = '%s_%s_%s' % (name, instance['provider'], instance['id'])
            self.display.warning('gpu_instances: more than one instance is named %r; this one (%s %s) is listed as %r'
                                 % (name, PROVIDER_LABELS.get(instance['provider'], instance['provider']),
                                    instance['id'], unique))
            name = unique
        return name

    def _populate(self, instances):
        prefix = self.get_option('hostvar_prefix')
        ready_group = self.get_option('ready_group')
        strict = self.get_option('strict')
        compose = self.get_option('compose')
        groups = self.get_option('groups')
        keyed_groups = self.get_option('keyed_groups')
        include_raw = self.get_option('include_raw')
        pattern = self.get_option('name_filter')
        filters = self.get_option('filters') or {}
        connection = self._connection_options()
        fields = INSTANCE_KEYS if include_raw else tuple(k for k in INSTANCE_KEYS if k != 'raw')

        for group in ('gpu_instances',) + PROVIDER_GROUPS + tuple('status_%s' % s for s in STATUSES) + (ready_group,):
            self.inventory.add_group(group)
        taken = set()
        for instance in instances:
            if not self._wanted(instance, pattern, filters):
                continue
            host = self._host_name(instance, taken)
            taken.add(host)
            self.inventory.add_host(host, group='gpu_instances')
            self.inventory.add_child(instance['provider'], host)
            self.inventory.add_child('status_%s' % instance['status'], host)
            for field in fields:
                self.inventory.set_variable(host, prefix + field, wrap_var(instance.get(field)))
            if ssh_ready(instance):
                self._set_connection(host, instance, connection)
                self.inventory.add_child(ready_group, host)
            hostvars = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(compose, hostvars, host, strict=strict)
            self._add_host_to_composed_groups(groups, hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(keyed_groups, hostvars, host, strict=strict)

    def _connection_options(self):
        known_hosts = None
        if self.get_option('host_key_checking') == 'pinned':
            known_hosts = os.path.expanduser(self.get_option('known_hosts_file'))
        return dict(ssh_user=self.get_option('ssh_user'), key_file=self.get_option('ssh_private_key_file'),
                    known_hosts=known_hosts)

    def _set_connection(self, host, instance, options):
        self.inventory.set_variable(host, 'ansible_host', wrap_var(instance['ssh_host']))
        self.inventory.set_variable(host, 'ansible_port', instance['ssh_port'])
        user = options['ssh_user'] or instance.get('ssh_user')
        if user:
            self.inventory.set_variable(host, 'ansible_user', wrap_var(user))
        if options['key_file']:
            self.inventory.set_variable(host, 'ansible_ssh_private_key_file', options['key_file'])
        if options['known_hosts']:
            # The host name comes from the API: the whole value is data, never a template.
            args = '-o UserKnownHostsFile=%s -o HostKeyAlias=%s -o StrictHostKeyChecking=yes' % (
                shlex.quote(options['known_hosts']), shlex.quote(host))
            self.inventory.set_variable(host, 'ansible_ssh_common_args', wrap_var(args))
