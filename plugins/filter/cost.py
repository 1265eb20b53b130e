# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._estimate import instance_cost as _instance_cost
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._estimate import speedrun_estimate as _speedrun_estimate
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._gpus import GpuSpecError, parse


def speedrun_estimate(gpu, price_per_hour=None):
    """'H100:8' | speedrun_estimate(23.92) -> dict(hours, setup_hours, cost_usd, source, text)."""
    try:
        gpu_type, count = parse(gpu)
    except GpuSpecError as exc:
        raise AnsibleFilterError(str(exc))
    return _speedrun_estimate(gpu_type, count, price_per_hour)


def instance_cost(instance):
    """A normalized instance -> dict(uptime_seconds, uptime, cost_usd, price_per_hour, source, text)."""
    if not isinstance(instance, dict):
        raise AnsibleFilterError('instance_cost expects a normalized instance (a dict), got %s' % type(instance).__name__)
    return _instance_cost(instance)


class FilterModule(object):
    def filters(self):
        return {'speedrun_estimate': speedrun_estimate, 'instance_cost': instance_cost}
