#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vastai_instance
short_description: Rent, start, stop and destroy Vast.ai GPU instances
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Manages one Vast.ai instance, found by its label (O(name)).
  - To create an instance the module searches Vast.ai's marketplace for rentable offers matching O(gpu_name),
    O(num_gpus) and the other criteria, cheapest first (C(dph_total) ascending), and rents the first one. When an
    offer is taken between the search and the rental (Vast.ai answers C(no_such_ask)), the next offer is tried, up
    to O(max_offer_attempts) offers. O(offer_id) rents one known offer instead.
  - With O(wait=true) the module returns once the instance is running B(and) its SSH endpoint is known (direct
    C(public_ipaddr) plus the host port mapped to C(22/tcp), else Vast.ai's SSH proxy).
  - The label is the idempotency key. Vast.ai does not enforce unique labels; the module lists the instances
    first (through the paginated C(/api/v1/instances/) endpoint) and fails when more than one has the label.
options:
  name:
    description:
      - Label of the instance. The module finds the instance by this label.
    type: str
    required: true
  state:
    description:
      - V(present) and V(running) make sure the instance exists and runs (renting an offer, or starting a stopped
        instance).
      - V(stopped) stops the instance (the GPUs are released; the disk is kept and still billed). A missing
        instance is an error; the module never rents an offer just to keep it stopped.
      - V(absent) destroys the instance and its disk.
    type: str
    default: present
    choices: [present, running, stopped, absent]
  offer_id:
    description:
      - Id of one Vast.ai offer to rent (from M(nanochat.remote_gpu.vastai_offer_info)). The offer search is
        then only used to check that the offer is still rentable and to read its price.
      - Mutually exclusive with the offer criteria (O(gpu_name), O(num_gpus), O(max_price_per_hour),
        O(min_reliability), O(min_cuda_version), O(countries), O(extra_filters)).
    type: int
  gpu_name:
    description:
      - GPU model as Vast.ai names it, with spaces, for example V(H100 SXM), V(H100 PCIE), V(H200),
        V(A100 SXM4) or V(RTX 4090).
      - Underscores (V(H100_SXM), the syntax of Vast's CLI) are replaced by spaces, with a warning.
      - Required to create an instance unless O(offer_id) or O(extra_filters) selects the offers.
    type: str
  num_gpus:
    description:
      - Number of GPUs of the offer (exact match). A nanochat speedrun wants V(8).
    type: int
  max_price_per_hour:
    description:
      - Highest total price in USD per hour (Vast's C(dph_total), GPUs plus storage at O(disk_gb)).
    type: float
  min_reliability:
    description:
      - Lowest host reliability score, between 0 and 1 (for example V(0.98)).
    type: float
  min_cuda_version:
    description:
      - Lowest CUDA version the host's driver supports (Vast's C(cuda_max_good)), for example V(12.8).
    type: float
  countries:
    description:
      - Two-letter country codes the host may be in (Vast's C(geolocation)), for example V([US, CA]).
    type: list
    elements: str
  verified_only:
    description:
      - Rent only offers from verified hosts (Vast's C(verified)), as the Vast.ai CLI does by default.
    type: bool
    default: true
  extra_filters:
    description:
      - >-
        More offer filters in Vast.ai's own query language, merged over the ones built from the options above
        (operator by operator), for example C({inet_down: {gte: 1000}, geolocation: {notin: [CN]}}).
      - Each key is an offer field (C(cpu_ram), C(inet_down), C(disk_bw), C(dlperf), C(datacenter), ...); each
        value maps an operator (C(eq), C(neq), C(gt), C(gte), C(lt), C(lte), C(in), C(notin)) to a value; C(in)
        and C(notin) take lists. RAM sizes are in MB. Unknown fields or operators fail before any request.
    type: dict
  max_offer_attempts:
    description:
      - How many of the cheapest matching offers to try when offers are taken before they can be rented.
    type: int
    default: 3
  image:
    description:
      - Docker image of a new instance. When not set, Vast.ai's base image
        V(vastai/base-image:@vastai-automatic-tag) is used.
      - For an existing instance a different value only causes a warning.
    type: str
  disk_gb:
    description:
      - Disk size of a new instance in GB. Only offers with at least this much free disk are considered, and
        offer prices include storage of this size. It cannot change later.
    type: int
    default: 100
  env:
    description:
      - Environment variables of a new instance. Keys of the form C(-p HOST:CONTAINER) with value C("1") map
        extra ports, as in Vast.ai's API. Values are sent as strings.
      - These values appear in the task's invocation output; put tokens and passwords in O(secret_env).
    type: dict
  secret_env:
    description:
      - Environment variables of a new instance whose values are secret (for example C(HF_TOKEN),
        C(WANDB_API_KEY)). Merged over O(env); the values are never logged or returned (the returned C(raw)
        object masks values of secret-looking names too).
    type: dict
  onstart:
    description:
      - Shell commands a new instance runs after Vast.ai's entrypoint (at most 4048 characters).
    type: str
  ssh_public_key:
    description:
      - An OpenSSH public key (one line) that must be able to log in as C(root).
      - The key is registered on the Vast.ai account first when it is not there yet (compared by type and
        base64, so comments may differ), B(before) an instance is rented, and Vast.ai then installs it on the new
        instance. The module then checks the instance's own key list and attaches the key when it is missing, so
        an existing instance gets it too.
      - When not set, the instance gets the keys already registered on the account
        (see M(nanochat.remote_gpu.vastai_ssh_key)).
    type: str
  wait_timeout:
    default: 900
extends_documentation_fragment:
  - nanochat.remote_gpu.vastai
  - nanochat.remote_gpu.wait
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only reads (instance list, offer search, SSH keys); returns the instance it would create, with C(id)
      null and the price of the offer it would rent.
  diff_mode:
    support: full
  platform:
    support: full
    platforms: all
notes:
  - When Vast.ai answers a create with a server error (Lambda also a 429), answers too late or the connection
    drops, the instance may exist anyway; the module looks it up by name for as long as Vast.ai may take to finish the
    request (about two minutes), uses it when it appears, and never sends a second create (nor tries another
    offer or region). When none appears it fails saying the outcome is unknown (C(create_outcome=unknown)), with
    the command that finds and removes it.
  - O(state=absent) retries the terminate on server errors and lost connections, counts a 404 after a retry as
    done and reads the instance back; it fails only when it is still alive, naming its id and price.
  - An existing instance whose GPU, GPU count, image, disk, price or country differs from the options is left as
    it is, with a warning; Vast.ai cannot change these in place, and the module never destroys or duplicates it.
  - When the wait times out the module fails with the last status seen and the instance (its C(id)); the
    instance is left rented and billing. Remove it with O(state=absent) or C(playbooks/teardown.yml), or run
    again with a longer O(wait_timeout) to keep waiting.
  - An instance whose C(actual_status) becomes C(exited), C(unknown) or C(offline) while it is being provisioned
    never reaches C(running) (Vast.ai's documented behaviour); the wait stops at once with that status and the
    advice to destroy the instance and rent another offer.
  - When a rental request fails with a server error or the connection drops, the instance may exist anyway; the
    module looks the label up and uses the instance it finds, and never rents a second one.
  - Vast.ai's daily offer-search quota can be exhausted (HTTP 429 C(search_quota_exceeded), with a C(Retry-After)
    hours away); the module fails at once with that message instead of sleeping. O(offer_id) still needs one
    search to check the offer.
  - With O(wait=true), O(state=stopped) waits until the instance is stopped and O(state=absent) until Vast.ai no
    longer returns it.
  - Stopping keeps billing for the disk. A stopped instance resumes on the same host, so starting it waits while
    that host's GPUs are rented by someone else.
seealso:
  - module: nanochat.remote_gpu.vastai_offer_info
  - module: nanochat.remote_gpu.vastai_instance_info
  - module: nanochat.remote_gpu.vastai_ssh_key
  - module: nanochat.remote_gpu.ssh_ready
"""

EXAMPLES = r"""
- name: Rent the cheapest verified 8x H100 SXM in North America for a nanochat speedrun
  nanochat.remote_gpu.vastai_instance:
    name: nanochat-speedrun
    gpu_name: H100 SXM
    num_gpus: 8
    max_price_per_hour: 20
    min_reliability: 0.98
    min_cuda_version: 12.8
    countries: [US, CA]
    extra_filters:
      inet_down: {gte: 1000}
    image: pytorch/pytorch:2.7.1-cuda12.8-cudnn9-devel
    disk_gb: 200
    env:
      WANDB_MODE: disabled
    ssh_public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
    wait_timeout: 1200
  delegate_to: localhost
  register: vast

- name: Show where to connect
  ansible.builtin.debug:
    msg: "ssh -p {{ vast.instance.ssh_port }} {{ vast.instance.ssh_user }}@{{ vast.instance.ssh_host }} ({{ vast.instance.price_per_hour }} USD/h)"

- name: Rent one offer picked earlier with vastai_offer_info
  nanochat.remote_gpu.vastai_instance:
    name: nanochat-speedrun
    offer_id: "{{ offers.offers[0].id }}"
    image: pytorch/pytorch:2.7.1-cuda12.8-cudnn9-devel
    disk_gb: 200
  delegate_to: localhost

- name: Stop the instance between runs (the disk is kept, and billed)
  nanochat.remote_gpu.vastai_instance:
    name: nanochat-speedrun
    state: stopped
  delegate_to: localhost

- name: Destroy the instance
  nanochat.remote_gpu.vastai_instance:
    name: nanochat-speedrun
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
instance:
  description:
    - The instance, normalized. After O(state=absent) the instance as it was, with C(status=terminated); null
      when no instance had the label.
    - In check mode, the instance that would be created (C(id) null, price and GPU of the offer it would rent).
  returned: success
  type: dict
  contains:
    provider:
      description: Always V(vastai).
      type: str
      sample: vastai
    id:
      description: Vast.ai instance (contract) id, as a string.
      type: str
      sample: "31000001"
    name:
      description: Instance label.
      type: str
      sample: nanochat-speedrun
    status:
      description:
        - V(running) only when C(actual_status) is C(running) and the SSH endpoint is known; V(pending) while
          provisioning (C(null), C(created), C(loading), C(rebooting), C(restarting)); V(stopped) (C(stopped),
          C(exited), C(frozen)); V(failed) (C(unknown), C(offline)); V(terminated).
      type: str
      sample: running
    provider_status:
      description: Vast.ai's C(actual_status) (null while provisioning).
      type: str
      sample: running
    ssh_host:
      description: Address of the SSH server (the direct public IP, else Vast's SSH proxy), null until known.
      type: str
      sample: 198.51.100.7
    ssh_port:
      description: TCP port of the SSH server, null until known. It can change when the instance restarts.
      type: int
      sample: 41201
    ssh_user:
      description: SSH user, V(root); null until the endpoint is known.
      type: str
      sample: root
    gpu_type:
      description: Vast.ai GPU name.
      type: str
      sample: H100 SXM
    gpu_count:
      description: Number of GPUs.
      type: int
      sample: 8
    price_per_hour:
      description: Total price in USD per hour (Vast's C(dph_total), GPUs and storage).
      type: float
      sample: 15.22
    region:
      description: Host location as Vast.ai reports it (C(geolocation), ending in the country code).
      type: str
      sample: Texas, US
    raw:
      description: Vast.ai's instance object; values of secret-looking keys (C(jupyter_token), env) are masked.
      type: dict
      sample: {"id": 31000001, "actual_status": "running", "ports": {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41201"}]}}
"""

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _lifecycle
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import (
    ApiError,
    ProviderModule,
    validate_public_key,
    wait_argument_spec,
)
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import (
    WaitFailed,
    WaitTimeout,
    diff_view,
    make_instance,
    ssh_ready,
    wait_for,
)
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._vastai import (
    DEFAULT_IMAGE,
    LABEL_MAX,
    ONSTART_MAX,
    PROVIDER,
    VastApi,
    build_offer_query,
    check_countries,
    check_filters,
    check_offer_criteria,
    created_despite_error,
    country_code,
    describe_offer,
    fix_gpu_name,
    host_failure,
    intended_status,
    offer_taken,
    provisioning_failure,
)

CRITERIA = ('gpu_name', 'num_gpus', 'max_price_per_hour', 'min_reliability', 'min_cuda_version', 'countries',
            'extra_filters')
# Offers asked for per search: enough for max_offer_attempts, capped.
SEARCH_LIMIT = 20
MAX_ATTEMPTS = 10

CLEANUP_HINT = 'remove it with state=absent (or playbooks/teardown.yml)'


class InstanceManager(object):

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.name = module.params['name']
        self.api = VastApi(module.client)
        self.filters = {}
        self.countries = []
        self.gpu_name = None
        self.env = None

    # --- helpers --------------------------------------------------------------------------
    def fail(self, msg, **kwargs):
        self.module.fail(msg, **kwargs)

    def warn(self, msg):
        self.module.module.warn(msg)

    def call(self, doing, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ApiError as err:
            self.module.fail_api(err, doing=doing)

    def describe(self, inst):
        return 'Vast.ai instance "%s" (id %s)' % (inst.get('name'), inst.get('id'))

    def exit(self, changed, before, after, result):
        self.module.exit(changed, diff=dict(before=diff_view(before), after=diff_view(after)), instance=result)

    # --- validation (no request) ----------------------------------------------------------
    def validate(self):
        p = self.params
        errors = []
        if not self.name or not self.name.strip():
            errors.append('name must not be empty')
        elif len(self.name) > LABEL_MAX:
            errors.append('name must be at most %d characters (a Vast.ai label)' % LABEL_MAX)
        errors.extend(check_offer_criteria(p, counts=('num_gpus', 'disk_gb', 'offer_id')))
        if not 1 <= p['max_offer_attempts'] <= MAX_ATTEMPTS:
            errors.append('max_offer_attempts must be between 1 and %d' % MAX_ATTEMPTS)
        if p['wait_timeout'] < 0:
            errors.append('wait_timeout must not be negative')
        if p['image'] is not None and not p['image'].strip():
            errors.append('image must not be empty')
        if p['onstart'] is not None and len(p['onstart']) > ONSTART_MAX:
            errors.append('onstart is %d characters; Vast.ai accepts at most %d (compress longer scripts, or copy '
                          'them over SSH)' % (len(p['onstart']), ONSTART_MAX))
        if p['ssh_public_key'] is not None:
            problem = validate_public_key(p['ssh_public_key'])
            if problem:
                errors.append('ssh_public_key: %s' % problem)
        if p['gpu_name'] is not None:
            self.gpu_name, warning = fix_gpu_name(p['gpu_name'])
            if not self.gpu_name:
                errors.append('gpu_name must not be empty')
            if warning:
                self.warn(warning)
        self.countries, problems = check_countries(p['countries'])
        errors.extend(problems)
        self.filters, problems, warnings = check_filters(p['extra_filters'], 'extra_filters')
        errors.extend(problems)
        for warning in warnings:
            self.warn(warning)
        for option in ('env', 'secret_env'):
            for key, value in (p[option] or {}).items():
                if not str(key).strip():
                    errors.append('%s keys must not be empty' % option)
                elif isinstance(value, (dict, list)) or value is None:
                    errors.append('%s.%s must be a string (or a number), not %s' % (option, key, type(value).__name__))
                else:
                    self.env = self.env or {}
                    self.env[str(key)] = ('true' if value else 'false') if isinstance(value, bool) else str(value)
        if errors:
            self.fail('Invalid options: %s. Nothing was sent to Vast.ai.' % '; '.join(errors))

    # --- reads ------------------------------------------------------------------------------
    def lookup(self):
        found = self.call('list instances to find "%s"' % self.name, self.api.find_by_name, self.name)
        if len(found) > 1:
            self.fail('Found %d Vast.ai instances labelled "%s" (ids %s). The label is how this module finds its '
                      'instance, so it cannot tell which one you mean. Destroy the ones you do not want (for example '
                      'in the Vast.ai console or with "vastai destroy instance ID") or relabel them, then run again.'
                      % (len(found), self.name, ', '.join(sorted(i['id'] for i in found))))
        return found[0] if found else None

    def fetch(self, instance_id):
        return self.call('read instance %s' % instance_id, self.api.get_instance, instance_id)

    def warn_differences(self, inst):
        p, raw, diffs = self.params, inst['raw'], []
        if self.gpu_name and raw.get('gpu_name') != self.gpu_name:
            diffs.append('GPU %s instead of %s' % (raw.get('gpu_name'), self.gpu_name))
        if p['num_gpus'] and raw.get('num_gpus') != p['num_gpus']:
            diffs.append('%s GPUs instead of %s' % (raw.get('num_gpus'), p['num_gpus']))
        if p['image'] and raw.get('image_uuid') != p['image']:
            diffs.append('image %s instead of %s' % (raw.get('image_uuid'), p['image']))
        if p['disk_gb'] and isinstance(raw.get('disk_space'), (int, float)) and raw['disk_space'] + 0.5 < p['disk_gb']:
            diffs.append('%s GB of disk instead of %s' % (raw['disk_space'], p['disk_gb']))
        if p['max_price_per_hour'] and (inst.get('price_per_hour') or 0) > p['max_price_per_hour']:
            diffs.append('%s USD/h, above max_price_per_hour %s' % (inst['price_per_hour'], p['max_price_per_hour']))
        if self.countries and country_code(inst.get('region')) not in self.countries:
            diffs.append('located in %s, not in %s' % (inst.get('region'), ', '.join(self.countries)))
        if diffs:
            self.warn('%s already exists with other settings (%s). Vast.ai cannot change these in place, so the '
                      'instance was left as it is; to get them, destroy it (state=absent) and run again (its disk is '
                      'lost).' % (self.describe(inst), '; '.join(diffs)))

    # --- waiting ----------------------------------------------------------------------------
    def wait(self, inst, ready, what, failed=None, **kwargs):
        instance_id = inst['id']
        try:
            return wait_for(lambda: self.call('read instance %s' % instance_id, self.api.poll_instance, instance_id),
                            ready, self.params['wait_timeout'], what=what, failed=failed,
                            progress_file=self.params['progress_file'], **kwargs)
        except WaitTimeout as err:
            last = err.last or inst
            self.fail('%s. The instance (id %s) still exists and bills %s USD/h: %s, or run again with a longer '
                      'wait_timeout to keep waiting (the module finds it by its label).'
                      % (str(err).rstrip('.'), instance_id, last.get('price_per_hour'), CLEANUP_HINT), instance=err.last)
        except WaitFailed as err:
            self.fail('%s: %s. It will not become reachable: %s and run again to rent another offer.'
                      % (self.describe(inst), err, CLEANUP_HINT), instance=err.last)

    def wait_ready(self, inst, failed):
        """Wait from ``inst``, a fresh read, which counts as the first look."""
        return self.wait(inst, ssh_ready, '%s to be running with an SSH endpoint' % self.describe(inst), failed=failed,
                         first=inst)

    # --- SSH key ------------------------------------------------------------------------------
    def ensure_account_key(self):
        key = self.params['ssh_public_key']
        if not key:
            return False
        changed, _key = self.call('register the SSH key on the Vast.ai account', self.api.ensure_account_key,
                                  key, check_mode=self.module.check_mode)
        return changed

    def ensure_instance_key(self, inst):
        key = self.params['ssh_public_key']
        if not key or inst.get('id') is None:
            return False
        try:
            return self.api.ensure_instance_key(inst['id'], key, check_mode=self.module.check_mode)
        except ApiError as err:
            self.module.fail_api(err, doing='attach the SSH key to %s' % self.describe(inst), instance=inst)

    # --- states -----------------------------------------------------------------------------
    def present(self):
        existing = self.lookup()
        if existing is None:
            return self.create()
        self.warn_differences(existing)
        if existing['status'] == 'failed':
            self.fail('%s: %s. It will not recover by itself: %s and run again to rent another offer.'
                      % (self.describe(existing), host_failure(existing), CLEANUP_HINT), instance=existing)
        wanted = intended_status(existing)
        if existing['provider_status'] == 'exited' and wanted == 'running':
            self.fail('%s: %s. %s and run again.' % (self.describe(existing), provisioning_failure(existing), CLEANUP_HINT),
                      instance=existing)
        changed = self.ensure_account_key()
        changed = self.ensure_instance_key(existing) or changed
        if wanted == 'stopped' or (existing['status'] == 'stopped' and wanted != 'running'):
            return self.start(existing)
        after = existing
        if self.params['wait'] and not ssh_ready(existing) and not self.module.check_mode:
            after = self.wait_ready(existing, provisioning_failure)
        self.exit(changed, existing, after, after)

    def start(self, inst):
        after = dict(inst, status='pending')
        if not self.module.check_mode:
            self.call('start %s' % self.describe(inst), self.api.set_state, inst['id'], 'running')
            after = self.fetch(inst['id']) or after
            if self.params['wait']:
                after = self.wait_ready(after, host_failure)
        self.exit(True, inst, after, after)

    def stopped(self):
        existing = self.lookup()
        if existing is None:
            self.fail('No Vast.ai instance is labelled "%s", so there is nothing to stop. Create it with state=present '
                      'first; this module does not rent an offer just to keep it stopped.' % self.name)
        if existing['status'] == 'stopped' and intended_status(existing) == 'stopped':
            self.exit(False, existing, existing, existing)
        after = dict(existing, status='stopped', ssh_host=None, ssh_port=None, ssh_user=None)
        if not self.module.check_mode:
            self.call('stop %s' % self.describe(existing), self.api.set_state, existing['id'], 'stopped')
            after = self.fetch(existing['id']) or after
            if self.params['wait']:
                after = self.wait(existing, lambda i: bool(i) and i['status'] == 'stopped',
                                  '%s to stop' % self.describe(existing), failed=lambda i: None if i else 'it disappeared')
        self.exit(True, existing, after, after)

    def absent(self):
        existing = self.lookup()
        if existing is None:
            self.exit(False, None, None, None)
        gone = dict(existing, status='terminated', ssh_host=None, ssh_port=None, ssh_user=None)
        if self.module.check_mode:
            self.exit(True, existing, None, gone)
        destroyed = self.destroy(existing)
        if self.params['wait']:
            self.wait(existing, lambda i: i is None, '%s to be destroyed' % self.describe(existing))
        self.exit(destroyed, existing, None, gone)

    def destroy(self, inst):
        """Destroy with retries and a read-back (module_utils/_lifecycle); fail only when alive."""
        instance_id = inst['id']
        try:
            changed, _last = _lifecycle.confirm_terminate(
                PROVIDER, inst, lambda: self.api.destroy_instance(instance_id),
                lambda: self.api.poll_instance(instance_id), lambda current: current is None)
        except _lifecycle.TerminateFailed as err:
            self.fail(str(err), instance=err.last)
        except ApiError as err:
            self.module.fail_api(err, doing='destroy %s' % self.describe(inst))
        return changed

    # --- create -------------------------------------------------------------------------------
    def candidate_offers(self):
        p = self.params
        if p['offer_id'] is not None:
            query = build_offer_query(offer_id=p['offer_id'], disk_gb=p['disk_gb'])
            offers = self.call('check offer %s' % p['offer_id'], self.api.search_offers, query)
            if not offers:
                self.fail('Vast.ai offer %s cannot be rented: the search does not return it as rentable (it was rented, '
                          'withdrawn, or has less than %s GB of disk). Pick another with '
                          'nanochat.remote_gpu.vastai_offer_info, or give gpu_name/num_gpus instead of offer_id to rent '
                          'the cheapest match. Nothing was created.' % (p['offer_id'], p['disk_gb']))
            return offers[:1]
        if not (self.gpu_name or self.filters or p['num_gpus']):
            self.fail('To rent a new Vast.ai instance labelled "%s", give offer_id, or gpu_name (with num_gpus and '
                      'the other criteria) to rent the cheapest matching offer. Nothing was created.' % self.name)
        query = build_offer_query(
            gpu_name=self.gpu_name, num_gpus=p['num_gpus'], max_price_per_hour=p['max_price_per_hour'],
            min_reliability=p['min_reliability'], disk_gb=p['disk_gb'], countries=self.countries,
            min_cuda_version=p['min_cuda_version'], verified_only=p['verified_only'], extra_filters=self.filters,
            limit=max(SEARCH_LIMIT, p['max_offer_attempts']))
        offers = self.call('search offers', self.api.search_offers, query)
        if not offers:
            self.fail(self.no_offer_message())
        # Cheapest first whatever order the API used.
        return sorted(offers, key=lambda o: float(o.get('dph_total') or 0))

    def no_offer_message(self):
        p = self.params
        wanted = []
        if p['num_gpus']:
            wanted.append('%dx' % p['num_gpus'])
        wanted.append(self.gpu_name or 'GPU')
        conditions = []
        if self.countries:
            conditions.append('in %s' % ', '.join(self.countries))
        if p['max_price_per_hour']:
            conditions.append('at most %s USD/h' % p['max_price_per_hour'])
        if p['min_reliability'] is not None:
            conditions.append('reliability >= %s' % p['min_reliability'])
        if p['min_cuda_version'] is not None:
            conditions.append('CUDA >= %s' % p['min_cuda_version'])
        conditions.append('%s GB of disk' % p['disk_gb'])
        if p['verified_only']:
            conditions.append('verified hosts only')
        if self.filters:
            conditions.append('extra_filters %s' % sorted(self.filters))
        return ('No rentable Vast.ai offer matches %s (%s). Capacity changes by the minute: try again later, raise '
                'max_price_per_hour, allow more countries, set verified_only=false, or relax the other criteria. Check '
                'the GPU name as Vast.ai writes it (for example "H100 SXM", "H100 PCIE", "H200", "A100 SXM4", '
                '"RTX 4090"); nanochat.remote_gpu.vastai_offer_info shows what is on offer. Nothing was created.'
                % (' '.join(wanted), ', '.join(conditions)))

    def predicted(self, offer):
        return make_instance(PROVIDER, None, self.name, 'pending', None, gpu_type=offer.get('gpu_name'),
                             gpu_count=offer.get('num_gpus'), price_per_hour=offer.get('dph_total'),
                             region=offer.get('geolocation'),
                             raw=dict(ask_id=offer.get('id'), label=self.name, image_uuid=self.params['image'] or DEFAULT_IMAGE,
                                      disk_space=float(self.params['disk_gb'])))

    def adopt_after_unclear_create(self, offer, err):
        """The create may have happened: look the label up for as long as Vast.ai may take, use the
        instance if it shows up, and never rent a second one meanwhile."""
        settled = _lifecycle.settle_create(PROVIDER, lambda: self.api.find_by_name(self.name))
        if len(settled.found) > 1:
            self.fail(_lifecycle.duplicate_message(PROVIDER, self.name, settled.found), api_error=err.to_dict())
        if settled.found:
            self.warn('Renting offer %s answered %s, but the instance was created (id %s); using it.'
                      % (offer['id'], err, settled.found[0]['id']))
            return settled.found[0]
        self.fail(_lifecycle.unknown_create_message(PROVIDER, self.name, 'renting offer %s: %s' % (offer['id'], err),
                                                    settled), create_outcome='unknown', api_error=err.to_dict())

    def destroy_orphan(self, offer, err, new_id):
        """A create that failed but returned ``new_contract``: that instance exists; destroy it."""
        orphan = self.api_instance_or_stub(new_id, offer)
        try:
            _lifecycle.confirm_terminate(PROVIDER, orphan, lambda: self.api.destroy_instance(new_id),
                                         lambda: self.api.poll_instance(new_id), lambda current: current is None)
        except _lifecycle.TerminateFailed as failed:
            self.fail('Vast.ai answered the rent of offer %s with an error (%s) but created instance %s anyway, and '
                      'destroying it failed: %s' % (offer['id'], err, new_id, failed), instance=failed.last,
                      api_error=err.to_dict())
        except ApiError as failed:
            self.module.fail_api(failed, doing='destroy instance %s, created by a rent of offer %s that answered %s'
                                 % (new_id, offer['id'], err), instance=orphan)
        self.fail('Vast.ai answered the rent of offer %s for "%s" with an error (%s) but created instance %s anyway; '
                  'that instance was destroyed (confirmed), so nothing is left billing. Run the task again to rent '
                  'another offer.' % (offer['id'], self.name, err, new_id), api_error=err.to_dict())

    def api_instance_or_stub(self, new_id, offer):
        try:
            found = self.api.get_instance(new_id)
        except ApiError:
            found = None
        return found or make_instance(PROVIDER, new_id, self.name, 'pending', None,
                                      price_per_hour=offer.get('dph_total'), gpu_type=offer.get('gpu_name'),
                                      gpu_count=offer.get('num_gpus'), region=offer.get('geolocation'))

    def rent(self, offer, image, taken):
        """The new instance, or None when the offer was taken (recorded in ``taken``)."""
        p = self.params
        try:
            new_id = self.api.create_instance(offer['id'], image, self.name, p['disk_gb'], env=self.env,
                                              onstart=p['onstart'])
        except ApiError as err:
            new_id = created_despite_error(err)
            if new_id is not None:
                self.destroy_orphan(offer, err, new_id)
            if offer_taken(err):
                taken.append('%s (%s)' % (offer['id'], err.message or err.code or err.status))
                return None
            if err.ambiguous:
                return self.adopt_after_unclear_create(offer, err)
            auth = err.status == 401 or err.code == 'auth_error'
            self.module.fail_api(err, doing='rent %s for "%s"' % (describe_offer(offer), self.name),
                                 hint=None if auth else 'Nothing was created.')
            raise  # not reached: fail_api exits
        return self.fetch(new_id) or make_instance(PROVIDER, new_id, self.name, 'pending', None,
                                                   price_per_hour=offer.get('dph_total'), gpu_type=offer.get('gpu_name'),
                                                   gpu_count=offer.get('num_gpus'), region=offer.get('geolocation'))

    def create(self):
        p = self.params
        offers = self.candidate_offers()
        self.ensure_account_key()
        if self.module.check_mode:
            after = self.predicted(offers[0])
            self.exit(True, None, after, after)
        image = p['image'] or DEFAULT_IMAGE
        taken, inst = [], None
        for offer in offers[:p['max_offer_attempts']]:
            inst = self.rent(offer, image, taken)
            if inst is not None:
                break
        if inst is None:
            self.fail('Every Vast.ai offer tried for "%s" was taken before it could be rented: %s. Offers come and go '
                      'quickly; run again, raise max_offer_attempts, or widen the criteria. Nothing was created.'
                      % (self.name, '; '.join(taken)))
        if taken:
            self.warn('Offers taken before they could be rented: %s; the next one was rented instead (instance %s).'
                      % ('; '.join(taken), inst['id']))
        self.ensure_instance_key(inst)
        after = inst
        if p['wait']:
            after = self.wait_ready(inst, provisioning_failure)
        self.exit(True, None, after, after)

    def run(self):
        self.validate()
        state = self.params['state']
        if state == 'absent':
            self.absent()
        elif state == 'stopped':
            self.stopped()
        else:
            self.present()


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'running', 'stopped', 'absent']),
        offer_id=dict(type='int'),
        gpu_name=dict(type='str'),
        num_gpus=dict(type='int'),
        max_price_per_hour=dict(type='float'),
        min_reliability=dict(type='float'),
        min_cuda_version=dict(type='float'),
        countries=dict(type='list', elements='str'),
        verified_only=dict(type='bool', default=True),
        extra_filters=dict(type='dict'),
        max_offer_attempts=dict(type='int', default=3),
        image=dict(type='str'),
        disk_gb=dict(type='int', default=100),
        env=dict(type='dict'),
        secret_env=dict(type='dict', no_log=True),
        onstart=dict(type='str'),
        ssh_public_key=dict(type='str'),
    )
    argument_spec.update(wait_argument_spec(900))
    module = ProviderModule(PROVIDER, argument_spec,
                            mutually_exclusive=[('offer_id', c) for c in CRITERIA],
                            supports_check_mode=True)
    InstanceManager(module).run()


if __name__ == '__main__':
    main()
