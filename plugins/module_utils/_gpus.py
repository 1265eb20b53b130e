# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provider-agnostic GPU names (``TYPE:COUNT``, e.g. ``H100:8``) and each provider's ids.

RunPod names a deployable GPU type id (``NVIDIA H100 80GB HBM3``) plus a count; Lambda Cloud
encodes type and count in the instance type name (``gpu_8x_h100_sxm5``); Vast.ai filters offers
on ``gpu_name`` (with spaces, ``H100 SXM``) and ``num_gpus``. The ids come from the providers'
catalogs as documented; the providers' live catalogs stay authoritative (the modules check them
before creating anything).
"""

from __future__ import annotations

import re

# type -> provider ids (None: the provider does not offer it). ``lambda`` is the instance type
# suffix after ``gpu_<count>x_``; ``lambda_counts`` the counts Lambda sells it in.
GPU_TYPES = {
    'H100': dict(description='NVIDIA H100 SXM 80GB', runpod='NVIDIA H100 80GB HBM3', vastai='H100 SXM',
                 lambda_suffix='h100_sxm5', lambda_counts=(1, 2, 4, 8)),
    'H100-PCIE': dict(description='NVIDIA H100 PCIe 80GB', runpod='NVIDIA H100 PCIe', vastai='H100 PCIE',
                      lambda_suffix='h100_pcie', lambda_counts=(1,)),
    'H100-NVL': dict(description='NVIDIA H100 NVL 94GB', runpod='NVIDIA H100 NVL', vastai='H100 NVL',
                     lambda_suffix=None, lambda_counts=()),
    'H200': dict(description='NVIDIA H200 141GB', runpod='NVIDIA H200', vastai='H200',
                 lambda_suffix=None, lambda_counts=()),
    'B200': dict(description='NVIDIA B200 180GB', runpod='NVIDIA B200', vastai='B200',
                 lambda_suffix='b200_sxm6', lambda_counts=(1, 2, 4, 8)),
    'A100-80GB': dict(description='NVIDIA A100 SXM4 80GB', runpod='NVIDIA A100-SXM4-80GB', vastai='A100 SXM4',
                      lambda_suffix='a100_80gb_sxm4', lambda_counts=(1, 2, 4, 8)),
    'A100': dict(description='NVIDIA A100 SXM4 40GB', runpod=None, vastai='A100 SXM4',
                 lambda_suffix='a100_sxm4', lambda_counts=(1, 2, 4, 8)),
    'L40S': dict(description='NVIDIA L40S 48GB', runpod='NVIDIA L40S', vastai='L40S',
                 lambda_suffix=None, lambda_counts=()),
    'A6000': dict(description='NVIDIA RTX A6000 48GB', runpod='NVIDIA RTX A6000', vastai='RTX A6000',
                  lambda_suffix='a6000', lambda_counts=(1, 2, 4)),
    'A10': dict(description='NVIDIA A10 24GB', runpod=None, vastai='A10',
                lambda_suffix='a10', lambda_counts=(1,)),
    'RTX4090': dict(description='NVIDIA GeForce RTX 4090 24GB', runpod='NVIDIA GeForce RTX 4090', vastai='RTX 4090',
                    lambda_suffix=None, lambda_counts=()),
    'RTX5090': dict(description='NVIDIA GeForce RTX 5090 32GB', runpod='NVIDIA GeForce RTX 5090', vastai='RTX 5090',
                    lambda_suffix=None, lambda_counts=()),
}

ALIASES = {
    'H100-SXM': 'H100', 'H100SXM': 'H100', 'H100-SXM5': 'H100', 'H100-80GB': 'H100',
    'H100PCIE': 'H100-PCIE', 'H100NVL': 'H100-NVL', 'H200-SXM': 'H200',
    'A100-80GB-SXM': 'A100-80GB', 'A100-SXM4-80GB': 'A100-80GB', 'A10080GB': 'A100-80GB',
    'A100-40GB': 'A100', 'A100-SXM4': 'A100', 'RTX-4090': 'RTX4090', 'RTX-5090': 'RTX5090', 'RTXA6000': 'A6000',
}

PROVIDERS = ('runpod', 'lambda', 'vastai')


class GpuSpecError(ValueError):
    pass


def offered_types(provider):
    if provider == 'lambda':
        return sorted(t for t, v in GPU_TYPES.items() if v['lambda_suffix'])
    return sorted(t for t, v in GPU_TYPES.items() if v[provider])


def parse(spec):
    """``'H100:8'`` -> ``('H100', 8)``; the count defaults to 1."""
    if not isinstance(spec, str) or not spec.strip():
        raise GpuSpecError('gpu must be a string TYPE:COUNT such as H100:8, got %r' % (spec,))
    match = re.match(r'^\s*([A-Za-z0-9_-]+)\s*(?::\s*(\d+))?\s*$', spec)
    if not match:
        raise GpuSpecError('gpu must look like TYPE:COUNT (for example H100:8), got %r' % spec)
    name = match.group(1).upper().replace('_', '-')
    name = ALIASES.get(name, ALIASES.get(name.replace('-', ''), name))
    count = int(match.group(2)) if match.group(2) else 1
    if name not in GPU_TYPES:
        raise GpuSpecError('unknown GPU type %r; known types: %s' % (match.group(1), ', '.join(sorted(GPU_TYPES))))
    if count < 1:
        raise GpuSpecError('the GPU count must be at least 1, got %d' % count)
    return name, count


def for_provider(spec, provider):
    """The provider's own ids for ``spec``, as a dict ready for that provider's module."""
    if provider not in PROVIDERS:
        raise GpuSpecError('unknown provider %r; use one of %s' % (provider, ', '.join(PROVIDERS)))
    name, count = parse(spec)
    info = GPU_TYPES[name]
    result = dict(type=name, count=count, description=info['description'])
    if provider == 'lambda':
        if not info['lambda_suffix']:
            raise GpuSpecError('Lambda Cloud does not offer %s; types it offers: %s'
                               % (name, ', '.join(offered_types('lambda'))))
        if count not in info['lambda_counts']:
            raise GpuSpecError('Lambda Cloud sells %s in counts of %s, not %d'
                               % (name, ', '.join(str(c) for c in info['lambda_counts']), count))
        result['instance_type'] = 'gpu_%dx_%s' % (count, info['lambda_suffix'])
        return result
    if not info[provider]:
        label = {'runpod': 'RunPod', 'vastai': 'Vast.ai'}[provider]
        raise GpuSpecError('%s does not offer %s; types it offers: %s' % (label, name, ', '.join(offered_types(provider))))
    if provider == 'runpod':
        result.update(gpu_type=info['runpod'], gpu_count=count)
    else:
        result.update(gpu_name=info['vastai'], num_gpus=count)
    return result
