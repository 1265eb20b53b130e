# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TYPE:COUNT -> each provider's GPU ids, and the gpu_spec filter."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.nanochat.remote_gpu.plugins.filter.gpu_spec import FilterModule
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._gpus import GpuSpecError, for_provider, parse


def test_default_speedrun_request_maps_for_every_provider():
    assert for_provider('H100:8', 'runpod')['gpu_type'] == 'NVIDIA H100 80GB HBM3'
    assert for_provider('H100:8', 'runpod')['gpu_count'] == 8
    assert for_provider('H100:8', 'lambda')['instance_type'] == 'gpu_8x_h100_sxm5'
    vast = for_provider('H100:8', 'vastai')
    assert (vast['gpu_name'], vast['num_gpus']) == ('H100 SXM', 8)


@pytest.mark.parametrize('text, expected', [
    ('H100', ('H100', 1)), ('h100:2', ('H100', 2)), ('H100-SXM:8', ('H100', 8)), (' a100_80gb : 4 ', ('A100-80GB', 4)),
    ('rtx4090:1', ('RTX4090', 1)), ('RTX-4090:2', ('RTX4090', 2)),
])
def test_parse_accepts_aliases_and_case(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize('text, fragment', [
    ('', 'TYPE:COUNT'), ('H100:x', 'TYPE:COUNT'), ('H100:0', 'at least 1'), ('V100:8', 'unknown GPU type'), (8, 'TYPE:COUNT'),
])
def test_parse_rejects_bad_requests(text, fragment):
    with pytest.raises(GpuSpecError) as info:
        parse(text)
    assert fragment in str(info.value)


def test_unknown_type_lists_known_types():
    with pytest.raises(GpuSpecError) as info:
        parse('V100:8')
    assert 'H100' in str(info.value) and 'A100-80GB' in str(info.value)


def test_provider_without_the_type_lists_what_it_offers():
    with pytest.raises(GpuSpecError) as info:
        for_provider('H200:8', 'lambda')
    assert 'Lambda Cloud does not offer H200' in str(info.value) and 'H100' in str(info.value)
    with pytest.raises(GpuSpecError) as info:
        for_provider('A10:1', 'runpod')
    assert 'RunPod does not offer A10' in str(info.value)


def test_lambda_counts_are_checked():
    with pytest.raises(GpuSpecError) as info:
        for_provider('H100:3', 'lambda')
    assert 'counts of 1, 2, 4, 8' in str(info.value)


def test_unknown_provider():
    with pytest.raises(GpuSpecError):
        for_provider('H100:8', 'aws')


def test_filter_raises_ansible_filter_error():
    gpu_spec = FilterModule().filters()['gpu_spec']
    assert gpu_spec('H100:8', 'vastai')['gpu_name'] == 'H100 SXM'
    with pytest.raises(AnsibleFilterError):
        gpu_spec('H200:8', 'lambda')
