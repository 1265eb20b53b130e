#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vastai_instance_info
short_description: List Vast.ai instances, or find one by label or id
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Returns Vast.ai instances of the account as normalized instances (the shape every module of this collection
    returns), all of them, the ones with a label (O(name)), or one by O(id).
  - The list comes from Vast.ai's paginated C(/api/v1/instances/) endpoint, page by page; an answer that is not an
    instance list fails the task instead of being read as "no instances". One instance by id is read with
    C(GET /api/v0/instances/{id}/).
options:
  name:
    description:
      - Only instances with this label (exact match). Vast.ai does not enforce unique labels, so several can match.
    type: str
  id:
    description:
      - Only the instance with this id. An unknown or destroyed id returns an empty list.
    type: int
extends_documentation_fragment:
  - nanochat.remote_gpu.vastai
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: all
seealso:
  - module: nanochat.remote_gpu.vastai_instance
"""

EXAMPLES = r"""
- name: Find the speedrun instance
  nanochat.remote_gpu.vastai_instance_info:
    name: nanochat-speedrun
  delegate_to: localhost
  register: found

- name: Fail when it does not run
  ansible.builtin.assert:
    that:
      - found.instances | length == 1
      - found.instances[0].status == 'running'

- name: List every instance of the account and what it costs
  nanochat.remote_gpu.vastai_instance_info:
  delegate_to: localhost
  register: all_instances

- name: Show the running bill
  ansible.builtin.debug:
    msg: "{{ all_instances.instances | map(attribute='price_per_hour') | sum }} USD/h"
"""

RETURN = r"""
instances:
  description: The matching instances, normalized, ordered by id.
  returned: success
  type: list
  elements: dict
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
          provisioning; V(stopped) (C(stopped), C(exited), C(frozen)); V(failed) (C(unknown), C(offline)).
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
      description: TCP port of the SSH server, null until known.
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
      description: Total price in USD per hour (Vast's C(dph_total)).
      type: float
      sample: 15.22
    region:
      description: Host location (C(geolocation)).
      type: str
      sample: Texas, US
    raw:
      description: Vast.ai's instance object; values of secret-looking keys are masked.
      type: dict
      sample: {"id": 31000001, "actual_status": "running", "label": "nanochat-speedrun"}
"""

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import ApiError, ProviderModule
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._vastai import PROVIDER, VastApi


def main():
    argument_spec = dict(
        name=dict(type='str'),
        id=dict(type='int'),
    )
    module = ProviderModule(PROVIDER, argument_spec, mutually_exclusive=[('name', 'id')], supports_check_mode=True)
    params = module.params
    if params['id'] is not None and params['id'] < 1:
        module.fail('id must be a positive instance id (got %d). Nothing was sent to Vast.ai.' % params['id'])
    api = VastApi(module.client)
    doing, instances = 'list instances', []
    try:
        if params['id'] is not None:
            doing = 'read instance %s' % params['id']
            found = api.get_instance(params['id'])
            instances = [found] if found else []
        elif params['name'] is not None:
            doing = 'list instances labelled "%s"' % params['name']
            instances = api.find_by_name(params['name'])
        else:
            instances = api.list_instances()
    except ApiError as err:
        module.fail_api(err, doing=doing)
    module.exit(False, instances=sorted(instances, key=lambda i: int(i['id'])))


if __name__ == '__main__':
    main()
