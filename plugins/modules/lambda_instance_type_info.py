#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_instance_type_info
short_description: Lambda Cloud instance types with prices, GPUs and the regions that have capacity
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Reads Lambda Cloud's catalog (C(GET /instance-types)) and returns each instance type with its
    price in USD per hour (for the whole instance and per GPU), its GPU model and count, its CPU,
    memory and disk, and the regions that have capacity for it right now.
  - Capacity listed is not capacity guaranteed; a launch can still be refused. Capacity for 8x H100
    comes and goes, sometimes for days.
options:
  name:
    description:
      - Only these instance types. Shell-style wildcards work, for example V(gpu_8x_*).
      - A name without wildcards that Lambda does not know gives a warning (likely a typo).
    type: list
    elements: str
  gpu_count:
    description: Only instance types with this many GPUs (V(8) for the nanochat speedrun).
    type: int
  region:
    description:
      - Only consider capacity in these regions. RV(instance_types[].regions_with_capacity) then lists only
        these regions, and RV(instance_types[].available) says whether one of them has capacity.
      - Unknown region names fail (checked against C(GET /regions)).
    type: list
    elements: str
  available_only:
    description: Only instance types that have capacity now (in O(region) when given).
    type: bool
    default: false
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
- name: Where can I get 8x H100 right now, and at what price?
  nanochat.remote_gpu.lambda_instance_type_info:
    name: gpu_8x_h100_*
    available_only: true
  delegate_to: localhost
  register: h100

- name: Launch in the regions that have capacity
  nanochat.remote_gpu.lambda_instance:
    name: nanochat-speedrun
    instance_type: "{{ h100.instance_types[0].name }}"
    region: "{{ h100.instance_types[0].regions_with_capacity }}"
    ssh_key_name: nanochat
  delegate_to: localhost
  when: h100.instance_types | length > 0

- name: Cheapest 8-GPU type with capacity in the US
  nanochat.remote_gpu.lambda_instance_type_info:
    gpu_count: 8
    region: [us-east-1, us-west-1, us-south-1]
    available_only: true
  delegate_to: localhost
  register: eight
"""

RETURN = r"""
instance_types:
  description: The matching instance types, cheapest first (then by name).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Instance type name, as O(nanochat.remote_gpu.lambda_instance#module:instance_type) takes it.
      type: str
      sample: gpu_8x_h100_sxm5
    description:
      description: Lambda's description.
      type: str
      sample: 8x H100 (80 GB SXM5)
    gpu_description:
      description: GPU model.
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
    price_per_gpu_hour:
      description: Price per GPU in USD per hour.
      type: float
      sample: 2.99
    vcpus:
      description: Virtual CPUs.
      type: int
      sample: 208
    memory_gib:
      description: Memory in GiB.
      type: int
      sample: 1800
    storage_gib:
      description: Local disk in GiB.
      type: int
      sample: 24780
    regions_with_capacity:
      description: Regions with capacity now, in Lambda's order (only those in O(region) when given).
      type: list
      elements: str
      sample: [us-west-1, us-south-1]
    region_descriptions:
      description: Description of each region in RV(instance_types[].regions_with_capacity).
      type: dict
      sample: {"us-west-1": "California, USA", "us-south-1": "Texas, USA"}
    available:
      description: Whether some region has capacity now (one of O(region) when given).
      type: bool
      sample: true
"""

import fnmatch

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import ProviderModule
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._lambda import LambdaApi, close_matches

WILDCARDS = ('*', '?', '[')


def matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def main():
    argument_spec = dict(
        name=dict(type='list', elements='str'),
        gpu_count=dict(type='int'),
        region=dict(type='list', elements='str'),
        available_only=dict(type='bool', default=False),
    )
    module = ProviderModule('lambda', argument_spec, supports_check_mode=True)
    p = module.params
    if p['gpu_count'] is not None and p['gpu_count'] < 1:
        module.fail('gpu_count must be 1 or more, got %d.' % p['gpu_count'])
    api = LambdaApi(module.client)
    try:
        types = api.instance_types()
        if p['region']:
            known = [r.get('name') for r in api.regions()]
            unknown = [r for r in p['region'] if r not in known]
            if unknown:
                module.fail('Unknown Lambda Cloud region(s): %s. Use some of these regions instead (or none, for every '
                            'region with capacity): %s. Nothing was written.' % (', '.join(unknown), ', '.join(known)))
    except ApiError as err:
        module.fail_api(err, doing='read the Lambda instance types')

    for pattern in p['name'] or []:
        if not any(c in pattern for c in WILDCARDS) and pattern not in types:
            suggestions = close_matches(pattern, types)
            module.module.warn('Lambda Cloud has no instance type %r%s.'
                               % (pattern, ' (did you mean %s?)' % ', '.join(suggestions) if suggestions else ''))

    result = []
    for item in types.values():
        if p['name'] and not matches(item['name'], p['name']):
            continue
        if p['gpu_count'] is not None and item['gpu_count'] != p['gpu_count']:
            continue
        if p['region']:
            regions = [r for r in item['regions_with_capacity'] if r in p['region']]
            item = dict(item, regions_with_capacity=regions, available=bool(regions),
                        region_descriptions=dict((r, item['region_descriptions'].get(r)) for r in regions))
        if p['available_only'] and not item['available']:
            continue
        result.append(item)
    result.sort(key=lambda t: (t['price_per_hour'] is None, t['price_per_hour'] or 0, t['name']))
    module.exit(False, instance_types=result)


if __name__ == '__main__':
    main()
