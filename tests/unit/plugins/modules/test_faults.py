# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fault matrix (tests/support/faultcases.py) on the three instance modules: creates whose
answer is late, lost or an error while the effect lands (never a second instance, never a
false "nothing was created"), terminates that meet 5xx and resets (retried, confirmed), 429s,
capacity, stuck boots, bad keys, and Vast.ai's quirks (new_contract on a failed create, OCI
runtime failures, auth_error under a 404)."""

from __future__ import annotations

import pytest

from tests.support import faultcases

CASES = faultcases.all_cases()


@pytest.mark.parametrize('kind, provider, case', CASES, ids=['%s-%s-%s' % (p, k, c[0].replace(' ', '_'))
                                                             for k, p, c in CASES])
def test_fault_case(kind, provider, case):
    outcome = faultcases.run_case(kind, provider, case)
    assert not outcome.duplicate, outcome.after
    assert not outcome.leak, (outcome.result, outcome.after)
    assert outcome.message_problems == [], outcome.result.get('msg')
    assert outcome.expect(outcome), (outcome.result, outcome.after, outcome.creates)
    assert faultcases.KEY not in str(outcome.result)
