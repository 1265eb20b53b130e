# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import hashlib
import json
import os
import time

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _estimate as est
from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _results as res


def test_the_table_follows_its_sources():
    assert est.speedrun_hours('H100', 8)[0] == 2.0  # nanochat README: ~2 h on 8xH100
    assert est.speedrun_hours('A100-80GB', 8)[0] == 4.0  # ~2x slower
    assert est.speedrun_hours('H100', 1)[0] == 16.0  # one GPU ~8x longer
    assert est.speedrun_hours('nope', 8)[0] is None
    e = est.speedrun_estimate('H100', 8, 23.92)
    assert e['cost_usd'] == round(2.25 * 23.92, 2) and 'README' in e['source']
    assert est.speedrun_estimate('H100', 8, None)['cost_usd'] is None


def test_billing_uses_the_providers_figures():
    now = 1_800_000_000
    assert est.billing_seconds(dict(provider='runpod', raw={'runtime': {'uptime': 120}}), now) == (120.0, 'RunPod runtime.uptime')
    assert est.billing_seconds(dict(provider='vastai', raw={'start_date': now - 60}), now)[0] == 60
    assert est.billing_seconds(dict(provider='lambda', raw={}), now) == (None, 'unknown')
    cost = est.instance_cost(dict(provider='runpod', price_per_hour=24.0, raw={'runtime': {'uptime': 1800}}), now)
    assert cost['cost_usd'] == 12.0 and cost['uptime'] == '30m00s'
    assert est.run_cost(24.0, 3600, 1800) == dict(cost_so_far_usd=24.0, projected_total_usd=36.0)
    assert est.run_cost(None, 3600) == dict(cost_so_far_usd=None, projected_total_usd=None)


def _write(root, rel, data):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(data)


def test_selection_manifest_marker_and_local_verify(tmp_path):
    base, run, dest = str(tmp_path / 'base'), str(tmp_path / 'run'), str(tmp_path / 'dest')
    for rel in ('chatsft_checkpoints/d20/model_000001.pt', 'chatsft_checkpoints/d20/meta_000001.json'):
        _write(base, rel, 'old')
    time.sleep(0.01)
    for rel in ('chatsft_checkpoints/d24/model_000003.pt', 'chatsft_checkpoints/d24/meta_000003.json',
                'chatsft_checkpoints/d24/model_000010.pt', 'chatsft_checkpoints/d24/meta_000010.json',
                'tokenizer/tokenizer.pkl', 'base_checkpoints/d24/model_000020.pt',
                'base_checkpoints/d24/meta_000020.json', 'base_checkpoints/d24/optim_000020_rank0.pt'):
        _write(base, rel, rel)
    _write(run, 'state', 'exit_code=0\n')
    rels = [r for r, _path in res.select(base, run)]
    assert rels == ['chatsft_checkpoints/d24/meta_000010.json', 'chatsft_checkpoints/d24/model_000010.pt',
                    'tokenizer/tokenizer.pkl', 'run/state']
    with_base = [r for r, _path in res.select(base, run, base_checkpoints=True)]
    assert 'base_checkpoints/d24/model_000020.pt' in with_base and 'base_checkpoints/d24/optim_000020_rank0.pt' not in with_base
    assert 'base_checkpoints/d24/optim_000020_rank0.pt' in [r for r, _path in res.select(base, run, base_checkpoints=True, optimizer=True)]
    files = res.describe(res.select(base, run))
    text = res.manifest_text(files)
    assert res.manifest_digest(files) == hashlib.sha256(text.encode()).hexdigest()
    assert res.parse_manifest(text) == dict((f['path'], f['sha256']) for f in files)
    marker = dict(files=files)
    _write(base, 'tokenizer/tokenizer.pkl', 'changed')
    now = res.describe(res.select(base, run), cache=files)
    assert res.compare(marker, now) == dict(changed=['tokenizer/tokenizer.pkl'], added=[], removed=[])

    os.makedirs(dest)
    first = res.verify_local(dest, now, cache_path=os.path.join(dest, '.c.json'))
    assert not first['ok'] and len(first['missing']) == 4 and first['bytes_missing'] == sum(f['size'] for f in now)
    for rel, path in res.select(base, run):
        _write(dest, rel, open(path).read())
    assert res.verify_local(dest, now, cache_path=os.path.join(dest, '.c.json'))['ok']
    assert json.load(open(os.path.join(dest, '.c.json')))
    _write(dest, 'tokenizer/tokenizer.pkl', 'Changed')  # same size, other bytes
    bad = res.verify_local(dest, now, cache_path=os.path.join(dest, '.c.json'), rehash=True)
    assert bad['mismatched'] == ['tokenizer/tokenizer.pkl']
