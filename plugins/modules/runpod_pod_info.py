#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: runpod_pod_info
short_description: List RunPod pods, or find one by name or id
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Returns RunPod pods as normalized instances (the same shape M(nanochat.remote_gpu.runpod_pod) and the
    C(nanochat.remote_gpu.gpu_instances) inventory return), read through the RunPod REST API v2.
  - Without O(name) or O(id), returns every pod of the account (one list request).
options:
  name:
    description:
      - Only pods with this exact name. RunPod names are not unique, so this can return several pods.
    type: str
  id:
    description:
      - Only the pod with this id. A pod that does not exist gives an empty list.
    type: str
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
- name: Find the speedrun pod
  nanochat.remote_gpu.runpod_pod_info:
    name: nanochat-speedrun
  delegate_to: localhost
  register: found

- name: Fail unless it is ready for SSH
  ansible.builtin.assert:
    that:
      - found.instances | length == 1
      - found.instances[0].status == 'running'

- name: List every pod of the account with what it costs
  nanochat.remote_gpu.runpod_pod_info:
  delegate_to: localhost
  register: all_pods

- name: Show the hourly total
  ansible.builtin.debug:
    msg: "{{ all_pods.instances | map(attribute='price_per_hour') | sum }} USD/h"
"""

RETURN = r"""
instances:
  description: The pods found, normalized (empty when none).
  returned: success
  type: list
  elements: dict
  contains:
    provider:
      description: Always V(runpod).
      type: str
      sample: runpod
    id:
      description: RunPod pod id.
      type: str
      sample: 5xpma5eg46tqjq
    name:
      description: Pod name.
      type: str
      sample: nanochat-speedrun
    status:
      description:
        - V(running) only when the pod is C(RUNNING) and its SSH endpoint is known; V(pending) while
          provisioning, starting, or running without an SSH endpoint yet; V(stopped) (C(EXITED)); V(failed)
          (C(ERROR)); V(terminated).
      type: str
      sample: running
    provider_status:
      description: RunPod's own status (C(PROVISIONING), C(STARTING), C(RUNNING), C(EXITED), C(ERROR), C(TERMINATED)).
      type: str
      sample: RUNNING
    ssh_host:
      description: Public address of the pod's SSH server (RunPod's direct endpoint), null until known.
      type: str
      sample: 213.173.104.74
    ssh_port:
      description: Public TCP port mapped to the pod's port 22, null until known.
      type: int
      sample: 35558
    ssh_user:
      description: SSH user, V(root).
      type: str
      sample: root
    gpu_type:
      description: RunPod GPU type id.
      type: str
      sample: NVIDIA H100 80GB HBM3
    gpu_count:
      description: Number of GPUs.
      type: int
      sample: 8
    price_per_hour:
      description: What the pod costs in USD per hour as RunPod reports it (0 when stopped).
      type: float
      sample: 21.52
    region:
      description: Data center id.
      type: str
      sample: US-KS-2
    raw:
      description: RunPod's pod object (REST v2 C(Pod)); values of secret-looking keys are masked.
      type: dict
      sample: {"id": "5xpma5eg46tqjq", "status": "RUNNING", "ports": ["22/tcp"]}
"""

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import ApiError, ProviderModule
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._runpod import RunPodApi


def main():
    module = ProviderModule(
        'runpod',
        dict(name=dict(type='str'), id=dict(type='str')),
        mutually_exclusive=[('name', 'id')],
        supports_check_mode=True,
    )
    api = RunPodApi(module.client)
    name, pod_id = module.params['name'], module.params['id']
    try:
        if pod_id:
            instance = api.get_instance(pod_id)
            instances = [instance] if instance else []
        elif name is not None:
            instances = api.find_by_name(name)
        else:
            instances = api.list_instances()
    except ApiError as err:
        module.fail_api(err, doing='read RunPod pods')
    module.exit(False, instances=instances)


if __name__ == '__main__':
    main()
