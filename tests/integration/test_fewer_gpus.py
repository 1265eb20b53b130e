# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A 2-GPU machine: speedrun.sh hardcodes --nproc_per_node=8 (the fixture's torchrun fails on
ranks without a GPU, as the real one does); the role runs a generated copy with 2 instead and
leaves the checkout untouched."""

from __future__ import annotations

import os
import re

import pytest

from tests.integration.conftest import launches, log_text, read, run_dir, wait_for_end

pytestmark = pytest.mark.integration


def test_two_gpus_run_with_nproc_per_node_2_and_a_clean_checkout(ansible, machines):
    machine = machines(gpus=2, gpu_name='NVIDIA A100-SXM4-80GB')
    # speedrun_wait: the play returns once the run has ended (and would fail if it had failed)
    result = ansible.play('nanochat.remote_gpu.speedrun', machine,
                          extra_vars=dict(speedrun_wait=True, speedrun_wait_delay=1, speedrun_wait_timeout=300))
    assert result.rc == 0, result
    assert 'finished (exit code 0)' in result.stdout
    # progress a person understands while waiting, not "FAILED - RETRYING"
    assert 'FAILED - RETRYING' not in result.stdout
    assert re.search(r'%s: speedrun \S+ running, .*waited \d+s of at most 5m00s' % machine.name, result.stdout), result.stdout
    assert 'GPUs: 2 x NVIDIA A100-SXM4-80GB' in result.stdout
    assert 'nproc_per_node=2' in read(os.path.join(run_dir(machine), 'state'))
    assert wait_for_end(machine, timeout=1) == 0, log_text(machine)
    assert len(launches(machine)) == 1

    generated = read(os.path.join(run_dir(machine), 'speedrun.sh'))
    assert generated.count('torchrun --standalone --nproc_per_node=2 -m scripts.') == 4
    assert '--nproc_per_node=8' not in generated
    log = log_text(machine)
    assert log.count('torchrun: --nproc_per_node=2 -m scripts.') == 4
    assert 'Distributed world size: 2' in log
    ckpt = machine.path('.cache/nanochat/base_checkpoints/d24')
    assert sorted(n for n in os.listdir(ckpt) if n.startswith('optim_')) == ['optim_000020_rank0.pt', 'optim_000020_rank1.pt']

    # the checkout is untouched: same commit, no change, the original script still says 8
    assert machine.ssh('git -C nanochat status --porcelain').stdout == ''
    assert machine.ssh('git -C nanochat diff --stat HEAD').stdout == ''
    original = read(machine.path('nanochat/runs/speedrun.sh'))
    assert original.count('torchrun --standalone --nproc_per_node=8 -m scripts.') == 4
    assert 'set -euo pipefail' not in original

    # and the trap is real on this machine: the unmodified script's torchrun fails on rank 2,
    # and without set -e it carries on to the end anyway
    direct = machine.ssh('cd nanochat && NANOCHAT_FAKE_STEPS=2 bash runs/speedrun.sh', check=False)
    assert 'CUDA error: invalid device ordinal' in direct.stderr + direct.stdout
    assert 'stage' not in direct.stdout  # no wrapper markers: this was the plain script
