# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for unit tests: run a module's real main() and read its result."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args


class ModuleResult(dict):
    @property
    def failed(self):
        return bool(self.get('failed'))

    @property
    def changed(self):
        return bool(self.get('changed'))


@pytest.fixture
def run_module(capsys, monkeypatch):
    """run_module(module, args, check_mode=False, diff=False) -> ModuleResult.

    Goes through AnsibleModule for real: argument spec, check mode, no_log, exit/fail JSON.
    Modules run as they do on a target: once any test imports controller code (ansible.errors,
    a plugin), ansible marks the process as the controller and module warnings would go to the
    display instead of the result, so that flag is reset for the module's run, and warnings
    left over from earlier tests are cleared.
    """
    from ansible.module_utils import _internal
    from ansible.module_utils.common import warnings as _warnings
    monkeypatch.setattr(_internal, 'is_controller', False)

    def _run(module, args, check_mode=False, diff=False):
        args = dict(args)
        args['_ansible_check_mode'] = check_mode
        args['_ansible_diff'] = diff
        capsys.readouterr()
        # Warnings are process-global: start each module run with none left from earlier tests.
        _warnings._global_warnings.clear()
        _warnings._global_deprecations.clear()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        out = capsys.readouterr().out
        return ModuleResult(json.loads(out))
    return _run


@pytest.fixture
def fast_client(monkeypatch):
    """Shrink retry backoff and wait-loop polling so failure-path tests take milliseconds.

    The logic under test is unchanged: same retry decisions, same number of tries, same
    deadlines; only the sleeps between them are shorter. Client-side pacing is off (the fakes
    get their own limits per test); tests about pacing set RATE_LIMITS themselves.
    """
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _common, _instance
    monkeypatch.setattr(_common, 'CLIENT_OPTIONS', dict(backoff_base=0.01, backoff_cap=0.05, max_retry_after=60.0))
    monkeypatch.setattr(_instance, 'DEFAULT_POLL_INTERVAL', 0.05)
    for provider in _common.RATE_LIMITS:
        monkeypatch.setitem(_common.RATE_LIMITS, provider, {})


@pytest.fixture(autouse=True)
def fast_lifecycle(monkeypatch):
    """Settling after an unclear create and retrying a terminate: the same decisions, with a
    settle window of 1.5 s instead of the provider's minutes (tests whose create lands later set
    their own), lookups 0.05 s apart and a terminate back-off of milliseconds."""
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _lifecycle
    monkeypatch.setattr(_lifecycle, 'CREATE_SETTLE_SECONDS', dict((p, 1.5) for p in _lifecycle.CREATE_SETTLE_SECONDS))
    monkeypatch.setattr(_lifecycle, 'SETTLE_INTERVAL', 0.05)
    monkeypatch.setattr(_lifecycle, 'TERMINATE_BACKOFF', 0.01)
    return _lifecycle
