#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_instance_info
short_description: List Lambda Cloud instances, or find them by name or id
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Returns Lambda Cloud instances as normalized instances (the same shape as
    M(nanochat.remote_gpu.lambda_instance) and the other providers' modules return).
  - Without O(name) or O(id), every instance of the account (one C(GET /instances) request).
    Terminated instances are no longer listed by Lambda.
options:
  name:
    description: Only instances with this name (Lambda does not enforce unique names).
    type: str
  id:
    description: Only the instance with this id (C(GET /instances/{id})); an empty list when Lambda does not know it.
    type: str
extends_documentation_fragment:
  - nanochat.remote_gpu.lambda_cloud
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: all
seealso:
  - module: nanochat.remote_gpu.lambda_instance
"""

EXAMPLES = r"""
- name: Find the speedrun instance
  nanochat.remote_gpu.lambda_instance_info:
    name: nanochat-speedrun
  delegate_to: localhost
  register: found

- name: Fail when it is not up
  ansible.builtin.assert:
    that:
      - found.instances | length == 1
      - found.instances[0].status == 'running'

- name: Everything that is billing on the account
  nanochat.remote_gpu.lambda_instance_info:
  delegate_to: localhost
  register: all_instances

- name: Show the hourly cost of the account
  ansible.builtin.debug:
    msg: "{{ all_instances.instances | map(attribute='price_per_hour') | sum }} USD/hour"
"""

RETURN = r"""
instances:
  description: The matching instances, normalized (an empty list when none match).
  returned: always
  type: list
  elements: dict
  contains:
    provider:
      description: Always V(lambda).
      type: str
      sample: lambda
    id:
      description: Instance id (32 hex digits).
      type: str
      sample: 0920582c7ff041399e34823a0be62549
    name:
      description: Instance name (V(null) when it has none).
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
      description: SSH port (22 once the IP is known).
      type: int
      sample: 22
    ssh_user:
      description: SSH user, V(ubuntu).
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
      description: Lambda's instance object, with secrets such as the Jupyter token replaced by C(********).
      type: dict
      sample: {"id": "0920582c7ff041399e34823a0be62549", "status": "active", "ip": "198.51.100.2"}
"""

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import ProviderModule
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._lambda import LambdaApi


def main():
    argument_spec = dict(
        name=dict(type='str'),
        id=dict(type='str'),
    )
    module = ProviderModule('lambda', argument_spec, mutually_exclusive=[('name', 'id')], supports_check_mode=True)
    api = LambdaApi(module.client)
    name, instance_id = module.params['name'], module.params['id']
    try:
        if instance_id:
            instance = api.get_instance(instance_id)
            instances = [instance] if instance else []
        elif name is not None:
            instances = api.find_by_name(name)
        else:
            instances = api.list_instances()
    except ApiError as err:
        module.fail_api(err, doing='list Lambda instances')
    module.exit(False, instances=instances)


if __name__ == '__main__':
    main()
