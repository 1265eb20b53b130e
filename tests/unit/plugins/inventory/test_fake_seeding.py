# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seeding helpers the inventory tests and bench/inventory.py use (FakeLambda.seed_instance,
FakeVast.seed_instance): seeded instances look to the API exactly like created ones, and seeding
sends nothing and logs nothing."""

from __future__ import annotations

import requests

from tests.fakes.lambda_cloud import FakeLambda
from tests.fakes.vastai import FakeVast


def test_lambda_seed_instance():
    with FakeLambda(api_key='k', boot_delay=3600, rate_limits={}) as fake:
        active = fake.seed_instance('nanochat-a')
        booting = fake.seed_instance('nanochat-b', status='booting', instance_type='gpu_1x_a10', region='us-east-1',
                                     tags=[{'key': 'team', 'value': 'ml'}])
        assert fake.calls == []
        listed = requests.get(fake.url + '/api/v1/instances', headers={'Authorization': 'Bearer k'}).json()['data']
        by_id = dict((i['id'], i) for i in listed)
        assert set(by_id) == {active, booting}
        assert by_id[active]['status'] == 'active' and by_id[active]['name'] == 'nanochat-a'
        assert by_id[active]['ip'] == fake.machines.booted[('lambda', active)]['host']
        assert by_id[active]['ssh_key_names'] == ['seeded-key'] and by_id[active]['jupyter_token']
        assert by_id[booting]['status'] == 'booting' and 'ip' not in by_id[booting]
        assert by_id[booting]['instance_type']['name'] == 'gpu_1x_a10' and by_id[booting]['region']['name'] == 'us-east-1'
        assert by_id[booting]['tags'] == [{'key': 'team', 'value': 'ml'}]
        # The key the machine accepts is the account key of that name (added once).
        keys = [k for k in fake.ssh_keys if k['name'] == 'seeded-key']
        assert len(keys) == 1 and fake.machines.booted[('lambda', active)]['public_keys'] == [keys[0]['public_key']]
        assert fake.internal_errors == []


def test_vast_seed_instance():
    with FakeVast(api_key='k', boot_delay=3600, rate_limits={}) as fake:
        fake.add_account_key('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE8lZCIs9rSPJ9bsTvPKFtW6ek2UrrqsnBJLzWZx0vAV me')
        running = [fake.seed_instance('nanochat-%d' % i) for i in range(3)]  # same template offer, 3 times
        loading = fake.seed_instance('nanochat-loading', state='loading')
        stopped = fake.seed_instance('nanochat-stopped', offer_id=2003, state='stopped', env={'HF_TOKEN': 'x'})
        assert fake.calls == [] and fake.offer(2001)['rented'] is False
        body = requests.get(fake.url + '/api/v1/instances/', headers={'Authorization': 'Bearer k'}).json()
        by_id = dict((i['id'], i) for i in body['instances'])
        assert set(by_id) == set(running + [loading, stopped])
        for instance_id in running:
            inst = by_id[instance_id]
            machine = fake.machines.booted[('vastai', str(instance_id))]
            assert inst['actual_status'] == 'running' and inst['public_ipaddr'] == machine['host']
            assert inst['ports']['22/tcp'][0]['HostPort'] == str(machine['port'])
            assert machine['public_keys'] == [k['key'] for k in fake.ssh_keys]
        assert by_id[loading]['actual_status'] == 'loading' and by_id[loading]['ports'] is None
        assert by_id[stopped]['actual_status'] == 'stopped' and by_id[stopped]['geolocation'] == 'Hesse, DE'
        assert by_id[stopped]['extra_env'] == [['HF_TOKEN', 'x']]
        # Destroying a seeded instance through the API does not touch the template offer.
        answer = requests.delete(fake.url + '/api/v0/instances/%d/' % running[0], headers={'Authorization': 'Bearer k'})
        assert answer.status_code == 200 and fake.offer(2001)['rented'] is False
        assert ('vastai', str(running[0])) not in fake.machines.booted
        assert fake.internal_errors == []
