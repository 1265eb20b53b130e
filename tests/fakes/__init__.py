# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local fakes of the RunPod, Lambda Cloud and Vast.ai APIs (importable, or run as a process)."""

from __future__ import annotations

import importlib

FAKES = {
    'runpod': ('tests.fakes.runpod', 'FakeRunPod'),
    'lambda': ('tests.fakes.lambda_cloud', 'FakeLambda'),
    'vastai': ('tests.fakes.vastai', 'FakeVast'),
}


def fake_class(provider):
    module_name, class_name = FAKES[provider]
    return getattr(importlib.import_module(module_name), class_name)
