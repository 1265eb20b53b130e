#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: runpod_gpu_info
short_description: RunPod GPU types with prices and current availability
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Reads RunPod's GPU catalog (C(GET /v2/catalog/gpus?include=AVAILABILITY&product=POD)) for pods with
    O(gpu_count) GPUs on the O(cloud_type) tier, and returns for each GPU type its id (the value
    M(nanochat.remote_gpu.runpod_pod) takes as O(nanochat.remote_gpu.runpod_pod#module:gpu_type)), name, memory,
    list price per GPU and for O(gpu_count) GPUs, overall availability, the data centers with their
    availability, and the largest count per pod.
  - Availability is a snapshot, not a reservation; a create can still fail for capacity.
options:
  gpu_type:
    description:
      - Only this GPU type id (for example V(NVIDIA H100 80GB HBM3)). An unknown id gives an empty list.
    type: str
  gpu_count:
    description:
      - Number of GPUs per pod that prices and availability are computed for.
    type: int
    default: 1
  cloud_type:
    description:
      - Cloud tier that prices and availability are computed for.
    type: str
    default: SECURE
    choices: [SECURE, COMMUNITY]
  country_codes:
    description:
      - Only data centers in these countries (ISO 3166-1 alpha-2 codes such as V(US) or V(RO)).
    type: list
    elements: str
  available_only:
    description:
      - Only GPU types offered on O(cloud_type) for O(gpu_count) GPUs whose availability is not C(NONE).
    type: bool
    default: false
extends_documentation_fragment:
  - nanochat.remote_gpu.runpod
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
  - module: nanochat.remote_gpu.runpod_pod
"""

EXAMPLES = r"""
- name: Where can we rent 8x H100 SXM right now?
  nanochat.remote_gpu.runpod_gpu_info:
    gpu_type: NVIDIA H100 80GB HBM3
    gpu_count: 8
  delegate_to: localhost
  register: h100

- name: Create the pod in a data center that has stock
  nanochat.remote_gpu.runpod_pod:
    name: nanochat-speedrun
    gpu_type: NVIDIA H100 80GB HBM3
    gpu_count: 8
    data_center_ids: "{{ h100.gpus[0].available_data_centers }}"
  delegate_to: localhost
  when: h100.gpus and h100.gpus[0].available_data_centers

- name: Every 8-GPU configuration available on the community cloud
  nanochat.remote_gpu.runpod_gpu_info:
    gpu_count: 8
    cloud_type: COMMUNITY
    available_only: true
  delegate_to: localhost
  register: community
"""

RETURN = r"""
gpus:
  description: GPU types, in the catalog's order.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: GPU type id, the value to pass as O(nanochat.remote_gpu.runpod_pod#module:gpu_type).
      type: str
      sample: NVIDIA H100 80GB HBM3
    name:
      description: Display name.
      type: str
      sample: H100 SXM
    manufacturer:
      description: V(NVIDIA), V(AMD) or V(UNKNOWN).
      type: str
      sample: NVIDIA
    memory_gb:
      description: Memory of one GPU in GB.
      type: int
      sample: 80
    cloud_type:
      description: The tier prices and availability are for.
      type: str
      sample: SECURE
    offered:
      description: Whether RunPod offers the type on this tier at all.
      type: bool
      sample: true
    gpu_count:
      description: The GPU count prices and availability are for.
      type: int
      sample: 8
    price_per_gpu:
      description: List price of one GPU in USD per hour on this tier (account discounts not included).
      type: float
      sample: 2.69
    price_per_hour:
      description: List price of a pod with O(gpu_count) GPUs in USD per hour.
      type: float
      sample: 21.52
    max_count:
      description: The most GPUs of this type one pod can have on this tier (a ceiling, not stock).
      type: int
      sample: 8
    availability:
      description: Overall availability, V(NONE), V(LOW), V(MEDIUM) or V(HIGH).
      type: str
      sample: HIGH
    data_centers:
      description: Data centers offering the type in this configuration, with their availability.
      type: list
      elements: dict
      sample: [{"id": "US-KS-2", "name": "US Kansas 2", "availability": "HIGH"}]
    available_data_centers:
      description: Ids of the data centers whose availability is not V(NONE), ready for O(nanochat.remote_gpu.runpod_pod#module:data_center_ids).
      type: list
      elements: str
      sample: [US-KS-2, US-TX-3]
    cuda_versions:
      description: CUDA versions of hosts with free capacity now.
      type: list
      elements: str
      sample: ["12.8", "13.0"]
"""

import re

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import ApiError, ProviderModule
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._runpod import RunPodApi, gpu_offer


def main():
    module = ProviderModule(
        'runpod',
        dict(
            gpu_type=dict(type='str'),
            gpu_count=dict(type='int', default=1),
            cloud_type=dict(type='str', default='SECURE', choices=['SECURE', 'COMMUNITY']),
            country_codes=dict(type='list', elements='str'),
            available_only=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p['gpu_count'] < 1:
        module.fail('gpu_count must be at least 1 (got %d)' % p['gpu_count'])
    countries = [c.strip().upper() for c in p['country_codes'] or []]
    bad = [c for c in countries if not re.match(r'^[A-Z]{2}$', c)]
    if bad:
        module.fail('country_codes must be two-letter ISO 3166-1 codes such as US or RO (got %s)' % ', '.join(bad))
    api = RunPodApi(module.client)
    try:
        if p['gpu_type']:
            gpu = api.get_gpu_type(p['gpu_type'], count=p['gpu_count'], cloud_type=p['cloud_type'], country_codes=countries)
            gpus = [gpu] if gpu else []
        else:
            gpus = api.list_gpu_types(count=p['gpu_count'], cloud_type=p['cloud_type'], country_codes=countries)
    except ApiError as err:
        module.fail_api(err, doing='read the RunPod GPU catalog')
    offers = [gpu_offer(gpu, p['gpu_count'], p['cloud_type']) for gpu in gpus]
    if p['available_only']:
        offers = [o for o in offers if o['offered'] and o['availability'] != 'NONE'
                  and (not o['max_count'] or o['gpu_count'] <= o['max_count'])]
    module.exit(False, gpus=offers)


if __name__ == '__main__':
    main()
