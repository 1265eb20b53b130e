#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_instance
short_description: Launch, restart or terminate a Lambda Cloud GPU instance
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Makes sure a Lambda Cloud on-demand instance with a given name exists and is reachable over
    SSH (V(present)), is restarted (V(restarted)) or is terminated (V(absent)).
  - The instance name is the idempotency key. Lambda does not enforce unique names, so the module
    lists the instances before launching, and fails when more than one live instance has the name.
  - Before launching, everything is checked with read-only requests, so bad input fails before
    anything that costs money is sent - the instance type (C(GET /instance-types)), the SSH key,
    the regions, the file systems and the image.
  - Regions are tried in order. A region that C(GET /instance-types) lists without capacity for the
    instance type is skipped without a launch request; a launch answered with
    C(instance-operations/launch/insufficient-capacity) moves on to the next region.
  - A launch whose outcome is unknown (HTTP 429 or 5xx, a timeout, a lost connection) may still have
    created the instance. The module then looks the name up before it sends the launch again, so it
    never leaves two instances behind.
  - Requests are paced to Lambda's documented limits (one request per second, one launch every 12
    seconds), across the forks of a play too.
options:
  name:
    description:
      - Name of the instance (at most 64 characters), the key that makes the module idempotent.
      - One of O(name) or O(id) is required; launching needs O(name).
    type: str
  id:
    description:
      - Id of an existing instance (32 hex digits), to select it instead of by name, for example to
        terminate one of two instances that share a name.
      - With O(state=present) the instance must exist; the module does not launch by id.
    type: str
  state:
    description:
      - V(present) launches the instance when no live instance has the name, and waits until it is
        active with a public IP (see O(wait)). V(running) is the same as V(present) (a Lambda
        instance runs from launch until it is terminated).
      - V(restarted) restarts the instance (C(POST /instance-operations/restart)), or launches it when
        it does not exist. Lambda restarts only active instances.
      - V(absent) terminates the instance. Terminating is the only way to stop the billing; the
        instance and its local disk are deleted.
      - V(stopped) always fails - Lambda Cloud has no stop; use V(absent).
    type: str
    default: present
    choices: [present, running, restarted, absent, stopped]
  instance_type:
    description:
      - Lambda instance type name, which encodes the GPU model and count, for example
        V(gpu_8x_h100_sxm5) (8x H100 SXM5, what the nanochat speedrun is tuned for) or V(gpu_1x_a10).
      - Required to launch. Checked against C(GET /instance-types) before anything is launched;
        M(nanochat.remote_gpu.lambda_instance_type_info) lists the types, prices and capacity.
    type: str
  region:
    description:
      - Region, or list of regions tried in order, for example V(us-west-1) or
        V([us-west-1, us-south-1, us-east-1]).
      - When omitted, every region that C(GET /instance-types) lists with capacity for the instance
        type is tried, in the order Lambda lists them.
    type: list
    elements: str
  ssh_key_name:
    description:
      - Name of the account SSH key to install for the V(ubuntu) user. Lambda takes exactly one.
      - Required to launch; it must already exist (add it with M(nanochat.remote_gpu.lambda_ssh_key)).
        The module checks that before launching.
    type: str
  file_system_names:
    description:
      - Lambda file systems to mount (at C(/lambda/nfs/<name>)). They must exist and be in one
        region; only that region is tried.
    type: list
    elements: str
  image:
    description:
      - Machine image, by family name or by id (as C(GET /images) lists them). When omitted Lambda
        uses the latest Lambda Stack image (Ubuntu with CUDA drivers), which is what nanochat needs.
    type: dict
    suboptions:
      family:
        description: Image family name, for example V(lambda-stack-24-04) (the newest image of the family).
        type: str
      id:
        description: Image id.
        type: str
  tags:
    description:
      - Tags to set at launch, as a dictionary (sent as Lambda's C([{key, value}]) list).
      - Keys must start with a lowercase letter and contain only lowercase letters, digits, C(-) and
        C(:) (2 to 55 characters); values are strings of at most 128 characters.
      - Tags cannot be changed on an existing instance; a difference is reported as a warning.
    type: dict
  wait_timeout:
    description:
      - How many seconds to wait, measured with a monotonic clock. 8x H100 instances can take about
        25 minutes to boot, hence the long default.
      - On timeout the module fails with the last status seen and leaves the instance as it is (it
        is billing); remove it with O(state=absent) or C(playbooks/teardown.yml) if you do not want
        to keep waiting.
    type: int
    default: 1800
extends_documentation_fragment:
  - nanochat.remote_gpu.lambda_cloud
  - nanochat.remote_gpu.wait
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Sends no write. Predicts the instance it would launch (id V(null), the price from the catalog).
  diff_mode:
    support: full
  platform:
    support: full
    platforms: all
notes:
  - When Lambda Cloud answers a create with a server error (Lambda also a 429), answers too late or the connection
    drops, the instance may exist anyway; the module looks it up by name for as long as Lambda Cloud may take to finish the
    request (about two minutes), uses it when it appears, and never sends a second create (nor tries another
    offer or region). When none appears it fails saying the outcome is unknown (C(create_outcome=unknown)), with
    the command that finds and removes it.
  - O(state=absent) retries the terminate on server errors and lost connections, counts a 404 after a retry as
    done and reads the instance back; it fails only when it is still alive, naming its id and price.
  - An existing instance whose instance type, region, SSH key, file systems or tags differ from the
    options is left alone with a warning; Lambda cannot change them in place. Terminate it first to
    get the new settings.
  - "With O(wait), V(present) returns once Lambda reports the instance C(active) with a public IP.
    SSH may take a few more seconds; use M(nanochat.remote_gpu.ssh_ready) to know it accepts your key."
  - On a wait timeout the module fails with the last status seen and the instance (so you know its
    id); the instance keeps running and billing. Remove it with O(state=absent) or
    C(playbooks/teardown.yml).
  - Lambda instances log in as V(ubuntu) on port 22 of the instance's public IP.
seealso:
  - module: nanochat.remote_gpu.lambda_instance_info
  - module: nanochat.remote_gpu.lambda_instance_type_info
  - module: nanochat.remote_gpu.lambda_ssh_key
  - name: Lambda Cloud API
    description: The API reference this module follows.
    link: https://docs.lambda.ai/api/cloud
"""

EXAMPLES = r"""
- name: Launch an 8x H100 instance for the nanochat speedrun, trying three regions
  nanochat.remote_gpu.lambda_instance:
    name: nanochat-speedrun
    instance_type: gpu_8x_h100_sxm5
    region: [us-west-1, us-south-1, us-east-1]
    ssh_key_name: nanochat
    tags:
      project: nanochat
      owner: ml-team
  delegate_to: localhost
  register: lambda

- name: Show where to connect
  ansible.builtin.debug:
    msg: "ssh {{ lambda.instance.ssh_user }}@{{ lambda.instance.ssh_host }} ({{ lambda.instance.price_per_hour }} USD/hour)"

- name: Keep trying while 8x H100 capacity is sold out everywhere
  nanochat.remote_gpu.lambda_instance:
    name: nanochat-speedrun
    instance_type: gpu_8x_h100_sxm5
    ssh_key_name: nanochat
  delegate_to: localhost
  register: lambda
  retries: 12
  delay: 300
  until: lambda is succeeded

- name: Mount a file system (only its region is tried)
  nanochat.remote_gpu.lambda_instance:
    name: nanochat-speedrun
    instance_type: gpu_8x_h100_sxm5
    ssh_key_name: nanochat
    file_system_names: [nanochat-data]
    image:
      family: lambda-stack-24-04
  delegate_to: localhost

- name: Restart the instance
  nanochat.remote_gpu.lambda_instance:
    name: nanochat-speedrun
    state: restarted
  delegate_to: localhost

- name: Terminate it (the only way to stop paying)
  nanochat.remote_gpu.lambda_instance:
    name: nanochat-speedrun
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
instance:
  description:
    - The instance as Lambda reports it after the task, normalized like every provider module of
      this collection. For a check-mode launch, the predicted instance (id V(null)).
    - V(null) with O(state=absent) when there was no instance.
  returned: always
  type: dict
  contains:
    provider:
      description: Always V(lambda).
      type: str
      sample: lambda
    id:
      description: Instance id (32 hex digits); V(null) for a predicted instance.
      type: str
      sample: 0920582c7ff041399e34823a0be62549
    name:
      description: Instance name.
      type: str
      sample: nanochat-speedrun
    status:
      description:
        - V(pending) (Lambda C(booting) or C(unhealthy), or C(active) without an IP yet),
          V(running) (C(active) with a public IP), V(terminated) (C(terminating), C(terminated) or
          C(preempted)).
      type: str
      sample: running
    provider_status:
      description: Lambda's own status.
      type: str
      sample: active
    ssh_host:
      description: Public IP to connect to; V(null) until known.
      type: str
      sample: 198.51.100.2
    ssh_port:
      description: SSH port (always 22 on Lambda once the IP is known).
      type: int
      sample: 22
    ssh_user:
      description: SSH user, V(ubuntu) on Lambda images.
      type: str
      sample: ubuntu
    gpu_type:
      description: GPU model as Lambda describes it.
      type: str
      sample: H100 (80 GB SXM5)
    gpu_count:
      description: Number of GPUs.
      type: int
      sample: 8
    price_per_hour:
      description: Price of the whole instance in USD per hour.
      type: float
      sample: 23.92
    region:
      description: Region name.
      type: str
      sample: us-west-1
    raw:
      description:
        - Lambda's instance object (C(instance_type), C(tags), C(ssh_key_names), C(actions), ...),
          with secrets such as the Jupyter token replaced by C(********).
      type: dict
      sample: {"id": "0920582c7ff041399e34823a0be62549", "status": "active", "ip": "198.51.100.2"}
"""

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import ProviderModule, wait_argument_spec
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import (
    WaitFailed,
    WaitTimeout,
    diff_view,
    ssh_ready,
    wait_for,
)
from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _lifecycle
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._lambda import (
    CODE_CONFLICT,
    CODE_QUOTA_EXCEEDED,
    STOP_MESSAGE,
    LambdaApi,
    LambdaError,
    is_finished,
    is_live,
    tags_from_api,
    tags_to_api,
    image_to_api,
    validate_instance_name,
)

DEFAULT_WAIT_TIMEOUT = 1800
# How long to wait for a launched instance to be readable by id, when O(wait) is off.
READ_BACK_TIMEOUT = 60
CLEANUP_HINT = ('The instance is left as it is and bills until terminated: remove it with state=absent (or '
                'playbooks/teardown.yml), or run the task again with a longer wait_timeout.')


class LambdaInstance(object):

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.api = LambdaApi(module.client)
        self.doing = 'talk to the API'

    # --- helpers ---------------------------------------------------------------------------
    def label(self, instance=None):
        name = (instance or {}).get('name') or self.params['name']
        instance_id = (instance or {}).get('id') or self.params['id']
        if name and instance_id:
            return 'Lambda instance "%s" (%s)' % (name, instance_id)
        return 'Lambda instance %s' % ('"%s"' % name if name else instance_id)

    def validate(self):
        p = self.params
        if p['state'] == 'stopped':
            self.module.fail(STOP_MESSAGE)
        if p['name'] is not None:
            problem = validate_instance_name(p['name'])
            if problem:
                self.module.fail('Invalid input: %s. Nothing was sent to Lambda Cloud.' % problem)
        if p['wait_timeout'] < 0:
            self.module.fail('wait_timeout must be 0 or more seconds, got %d.' % p['wait_timeout'])
        if any(not r or not r.strip() for r in p['region'] or []):
            self.module.fail('region must not contain empty names.')
        try:
            tags_to_api(p['tags'])
            image_to_api(p['image'])
        except LambdaError as err:
            self.module.fail('Invalid input: %s. Nothing was sent to Lambda Cloud.' % err)

    def find(self):
        """The live instance selected by id or name, or None."""
        p = self.params
        if p['id']:
            self.doing = 'read Lambda instance %s' % p['id']
            instance = self.api.get_instance(p['id'])
            if instance and p['name'] and instance['name'] != p['name']:
                self.module.fail('Lambda instance %s is named "%s", not "%s"; nothing was changed.'
                                 % (p['id'], instance['name'], p['name']), instance=instance)
            return instance if is_live(instance) else None
        self.doing = 'list Lambda instances to look up "%s"' % p['name']
        matches = self.api.live_by_name(p['name'])
        if len(matches) > 1:
            self.module.fail('%d Lambda instances are named "%s" (ids: %s). The name identifies the instance, so '
                             'nothing was changed. Terminate the extra ones (this module with id=<id> and state=absent), '
                             'or use another name.' % (len(matches), p['name'], ', '.join(i['id'] for i in matches)))
        return matches[0] if matches else None

    def drift(self, instance):
        """Settings of an existing instance that differ from the options and cannot change in place."""
        p, raw = self.params, instance.get('raw') or {}
        differences = []
        current_type = (raw.get('instance_type') or {}).get('name')
        if p['instance_type'] and current_type != p['instance_type']:
            differences.append('instance_type is %s, not %s' % (current_type, p['instance_type']))
        if p['region'] and instance.get('region') not in p['region']:
            differences.append('region is %s, not one of %s' % (instance.get('region'), ', '.join(p['region'])))
        if p['ssh_key_name'] and p['ssh_key_name'] not in (raw.get('ssh_key_names') or []):
            differences.append('ssh_key_names are %s, not [%s]' % (raw.get('ssh_key_names'), p['ssh_key_name']))
        if p['file_system_names'] is not None and sorted(p['file_system_names']) != sorted(raw.get('file_system_names') or []):
            differences.append('file_system_names are %s, not %s' % (raw.get('file_system_names') or [], p['file_system_names']))
        if p['tags'] is not None:
            wanted = dict((t['key'], t['value']) for t in tags_to_api(p['tags']))
            if tags_from_api(raw.get('tags')) != wanted:
                differences.append('tags are %s, not %s' % (tags_from_api(raw.get('tags')), wanted))
        if differences:
            self.module.module.warn('%s exists with settings that Lambda cannot change in place: %s. It was left as it '
                                    'is; terminate it (state=absent) and run again to get the new settings.'
                                    % (self.label(instance), '; '.join(differences)))

    def fetch(self, instance_id):
        def _fetch():
            return self.api.get_instance(instance_id)
        return _fetch

    def wait_ready(self, instance):
        self.doing = 'wait for %s' % self.label(instance)

        def failed(current):
            if current is None:
                return 'Lambda no longer knows the instance'
            if current['status'] == 'terminated':
                return 'the instance is %s' % current['provider_status']
            return None
        try:
            return wait_for(self.fetch(instance['id']), ssh_ready, self.params['wait_timeout'],
                            what='%s to be active with a public IP' % self.label(instance), failed=failed,
                            first=instance, progress_file=self.params['progress_file'])
        except WaitTimeout as exc:
            self.module.fail('%s. %s' % (exc, CLEANUP_HINT), instance=exc.last or instance)
        except WaitFailed as exc:
            self.module.fail('%s will not become ready: %s. Run the task again to launch a new one.'
                             % (self.label(instance), exc), instance=exc.last)

    def read_back(self, instance_id):
        """The instance right after launch (the launch answer has only its id)."""
        self.doing = 'read back launched Lambda instance %s' % instance_id
        try:
            return wait_for(self.fetch(instance_id), lambda i: i is not None, READ_BACK_TIMEOUT,
                            what='launched Lambda instance %s to be readable' % instance_id)
        except WaitTimeout:
            self.module.fail('Lambda accepted the launch of instance %s but does not show it. Check the dashboard, and '
                             'remove it with id=%s state=absent if it appears.' % (instance_id, instance_id),
                             instance=dict(provider='lambda', id=instance_id, name=self.params['name']))

    # --- states ----------------------------------------------------------------------------
    def launch(self):
        p = self.params
        if p['id']:
            self.module.fail('No live Lambda instance has id %s; the module launches by name only (give name, not id).' % p['id'])
        missing = [o for o in ('instance_type', 'ssh_key_name') if not p[o]]
        if missing:
            self.module.fail('No Lambda instance named "%s" exists; launching one needs %s.' % (p['name'], ' and '.join(missing)))
        self.doing = 'check the launch of "%s" (read-only requests)' % p['name']
        try:
            plan = self.api.plan_launch(p['name'], p['instance_type'], p['ssh_key_name'], regions=p['region'],
                                        file_system_names=p['file_system_names'], image=p['image'], tags=p['tags'])
        except LambdaError as err:
            self.module.fail(str(err))
        if self.module.check_mode:
            predicted = plan.predicted()
            self.module.exit(True, instance=predicted, diff=dict(before=diff_view(None), after=diff_view(predicted)))
        self.doing = 'launch %s "%s"' % (p['instance_type'], p['name'])
        try:
            instance_id, _region, _attempts = self.api.launch_planned(plan)
        except LambdaError as err:
            if err.kind == 'unknown':
                self.module.fail(str(err), create_outcome='unknown')
            self.module.fail(str(err))
        except ApiError as err:
            hint = None
            if err.code == CODE_QUOTA_EXCEEDED:
                hint = ('Terminate instances you no longer need (nanochat.remote_gpu.lambda_instance_info lists them) '
                        'or ask Lambda support for a higher quota.')
            self.module.fail_api(err, doing=self.doing, hint=hint)
        instance = self.read_back(instance_id)
        if self.params['wait'] and not ssh_ready(instance):
            instance = self.wait_ready(instance)
        return instance

    def present(self):
        existing = self.find()
        if existing is None:
            instance = self.launch()
            self.module.exit(True, instance=instance, diff=dict(before=diff_view(None), after=diff_view(instance)))
        self.drift(existing)
        instance = existing
        if self.params['wait'] and not ssh_ready(existing) and not self.module.check_mode:
            instance = self.wait_ready(existing)
        self.module.exit(False, instance=instance, diff=dict(before=diff_view(existing), after=diff_view(instance)))

    def restarted(self):
        existing = self.find()
        if existing is None:
            instance = self.launch()
            self.module.exit(True, instance=instance, diff=dict(before=diff_view(None), after=diff_view(instance)))
        self.drift(existing)
        if self.module.check_mode:
            self.module.exit(True, instance=existing, diff=dict(before=diff_view(existing), after=diff_view(existing)))
        self.doing = 'restart %s' % self.label(existing)
        try:
            restarted = self.api.restart([existing['id']])
        except ApiError as err:
            hint = None
            if err.code == CODE_CONFLICT or err.status == 409:
                hint = ('The instance is %s; Lambda restarts only active instances. Wait for it with state=present first.'
                        % existing['provider_status'])
            elif err.ambiguous:
                hint = 'The restart may or may not have happened; check the instance before trying again.'
            self.module.fail_api(err, doing=self.doing, hint=hint, instance=existing)
        instance = restarted[0] if restarted else self.api.get_instance(existing['id'])
        if self.params['wait'] and instance is not None:
            instance = self.wait_ready(instance)
        self.module.exit(True, instance=instance, diff=dict(before=diff_view(existing), after=diff_view(instance)))

    def absent(self):
        existing = self.find()
        if existing is None:
            self.module.exit(False, instance=None, diff=dict(before=diff_view(None), after=diff_view(None)))
        if self.module.check_mode:
            self.module.exit(True, instance=dict(existing, status='terminated', provider_status='terminating'),
                             diff=dict(before=diff_view(existing), after=diff_view(None)))
        self.doing = 'terminate %s' % self.label(existing)
        instance_id = existing['id']
        try:
            changed, last = _lifecycle.confirm_terminate(
                'lambda', existing, lambda: bool(self.api.terminate([instance_id])),
                lambda: self.api.get_instance(instance_id), lambda current: not is_live(current))
        except _lifecycle.TerminateFailed as err:
            self.module.fail(str(err), instance=err.last)
        if not changed:
            # 404: it went away between the lookup and the terminate.
            self.module.exit(False, instance=None, diff=dict(before=diff_view(existing), after=diff_view(None)))
        instance = last or dict(existing, status='terminated', provider_status='terminating')
        if self.params['wait']:
            self.doing = 'wait for %s to terminate' % self.label(existing)
            try:
                last = wait_for(self.fetch(existing['id']), is_finished, self.params['wait_timeout'],
                                what='%s to be terminated' % self.label(existing), progress_file=self.params['progress_file'])
            except WaitTimeout as exc:
                self.module.fail('%s. Lambda accepted the terminate request; check the instance in the dashboard.' % exc,
                                 instance=exc.last or instance)
            instance = last or dict(instance, provider_status='terminated')
        self.module.exit(True, instance=instance, diff=dict(before=diff_view(existing), after=diff_view(None)))

    def run(self):
        self.validate()
        state = self.params['state']
        try:
            if state == 'absent':
                self.absent()
            elif state == 'restarted':
                self.restarted()
            else:
                self.present()
        except ApiError as err:
            self.module.fail_api(err, doing=self.doing)


def main():
    argument_spec = dict(
        name=dict(type='str'),
        id=dict(type='str'),
        state=dict(type='str', default='present', choices=['present', 'running', 'restarted', 'absent', 'stopped']),
        instance_type=dict(type='str'),
        region=dict(type='list', elements='str'),
        ssh_key_name=dict(type='str', no_log=False),
        file_system_names=dict(type='list', elements='str'),
        image=dict(type='dict', options=dict(family=dict(type='str'), id=dict(type='str')),
                   mutually_exclusive=[('family', 'id')], required_one_of=[('family', 'id')]),
        tags=dict(type='dict'),
    )
    argument_spec.update(wait_argument_spec(DEFAULT_WAIT_TIMEOUT))
    module = ProviderModule('lambda', argument_spec, required_one_of=[('name', 'id')], supports_check_mode=True)
    LambdaInstance(module).run()


if __name__ == '__main__':
    main()
