# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the gpu_instances inventory tests (the helpers are in helpers.py)."""

from __future__ import annotations

import pytest

from tests.unit.plugins.inventory.helpers import AnsibleRunner, Clouds


@pytest.fixture
def clouds():
    """The RunPod, Lambda Cloud and Vast.ai fakes, started; checked for internal errors at the end."""
    instance = Clouds()
    yield instance
    instance.stop()
    for provider, fake in instance.fakes.items():
        assert fake.internal_errors == [], (provider, fake.internal_errors)


@pytest.fixture
def ansible(tmp_path):
    """Runs ansible-inventory / ansible-playbook in ``tmp_path`` (see helpers.AnsibleRunner)."""
    return AnsibleRunner(tmp_path)
