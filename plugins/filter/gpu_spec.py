# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._gpus import GpuSpecError, for_provider


def gpu_spec(spec, provider):
    """Map ``TYPE:COUNT`` to the provider's GPU ids."""
    try:
        return for_provider(spec, provider)
    except GpuSpecError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {'gpu_spec': gpu_spec}
