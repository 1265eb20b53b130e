# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A strict fake of the Vast.ai REST API (provider-apis.md §3, vastai-openapi.yaml).

Implemented, under the host root, every path with or without its trailing slash:

- auth: ``Authorization: Bearer <key>`` or the legacy ``?api_key=<key>`` query (removed from the
  call log). A wrong key answers ``{"success": false, "error": "auth_error", "msg": "Invalid user
  key"}`` with 401, or with 404 on ``/api/v0/bundles/`` as the spec documents (``auth_error_status``
  forces one status everywhere, as observed live);
- offers: ``POST /api/v0/bundles/`` (query object as body), ``PUT /api/v0/search/asks/``
  (``{"select_cols", "q"}``) and the old ``GET /api/v0/bundles/?q=``, over a static table (see
  ``default_offers``: eight-GPU "H100 SXM" offers at different prices, some unverified, one
  already rented, plus other GPUs). Operators ``eq neq gt gte lt lte in notin``, ``order``,
  ``limit``, ``type`` (on-demand/ondemand/bid/interruptible/reserved), ``allocated_storage``
  (prices storage into ``dph_total``). ``geolocation`` filters match the two-letter country code,
  ``verified`` matches ``verification == "verified"``, ``gpu_name`` matches exactly (so
  ``"H100_SXM"`` finds nothing). Unknown fields, operators, order fields or types -> 400;
- create: ``PUT /api/v0/asks/{id}/`` -> ``{"success": true, "new_contract": N}``; the offer becomes
  rented; a rented/unknown offer -> 404 ``no_such_ask`` (recorded body), an offer marked
  unavailable -> 410. Body checked: known fields only, ``image`` required (unless a template),
  types, ``runtype`` tokens, ``env`` object (or docker-flag string), ``onstart`` <= 4048 chars;
- instance lifecycle (time-based via ``clock``): ``actual_status`` null -> ``loading`` -> ``running``
  over ``boot_delay`` seconds. On reaching running the fake calls
  ``machines.boot('vastai', id, keys, 'root')`` with the keys the instance accepts (account keys at
  creation + keys attached later) and sets ``public_ipaddr`` = host and ``ports["22/tcp"][0].HostPort``
  = port (a string) for direct runtypes, plus a distinct proxy ``ssh_host``/``ssh_port`` (for a
  proxy-only runtype the proxy fields carry the machine's endpoint instead). None of these are
  set before running. ``fail_provisioning`` makes instances end in ``exited``/``unknown``/``offline``;
- ``GET /api/v0/instances/{id}/`` -> ``{"instances": {...}}``; gone -> ``{"instances": null}`` (or 404
  with ``missing_instance='404'``); ``PUT`` ``{"state": "stopped"|"running"}`` / ``{"label"}``; stop ->
  ``stopped`` with ``ports`` null (``machines.stop``); start -> ``loading`` -> ``running`` (boot again);
  ``DELETE`` -> gone (``machines.destroy``, the offer is rentable again); again -> 404 ``not_found``;
- ``GET /api/v0/instances/`` (legacy list) -> 410 ``deprecated_endpoint``;
  ``GET /api/v1/instances/`` paginated: ``limit`` (max 25, <= 0 means 5), keyset ``after_token`` /
  ``next_token``, ``order_by`` / ``select_filters`` / ``select_cols`` JSON-encoded (anything else ->
  400), computed columns not filterable (400);
- account keys ``GET/POST /api/v0/ssh/`` (list: bare array with ``key``; create: ``public_key``; the key
  is added to every current instance), ``PUT/DELETE /api/v0/ssh/{id}/``; per instance
  ``GET/POST /api/v0/instances/{id}/ssh/`` (``ssh_keys`` is a JSON string) and
  ``DELETE /api/v0/instances/{id}/ssh/{key_id}/``. A key added to a running instance reaches its
  machine through ``machines.authorize(provider, id, keys)`` when the backend has that method;
- ``GET /api/v0/users/current/``;
- rate limits: per endpoint and identity, a minimum interval (``rate_limits``; defaults from the
  spec's 429 examples, ``threshold=`` read as seconds); the 429 body is plain text
  ``API requests too frequent endpoint threshold=X`` (``rate_limit_body='json'`` for the JSON forms);
- daily search quota (``search_quota``): 429 ``search_quota_exceeded`` with an optional
  ``Retry-After`` (``search_quota_retry_after``).

Test seeding, separate from the API behaviour: ``seed_instance(label, ...)`` inserts a running,
loading or stopped instance without HTTP (many instances for inventory tests and benchmarks).
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import json
import re
import secrets
import time

from tests.fakes.base import FakeApi, Response

OPERATORS = ('eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'notin')
OFFER_FIELDS = frozenset((
    'bw_nvlink', 'compute_cap', 'cpu_arch', 'cpu_cores', 'cpu_cores_effective', 'cpu_ghz', 'cpu_ram',
    'cuda_max_good', 'datacenter', 'direct_port_count', 'driver_version', 'disk_bw', 'disk_space', 'dlperf',
    'dlperf_per_dphtotal', 'dph_total', 'duration', 'external', 'flops_per_dphtotal', 'gpu_arch',
    'gpu_display_active', 'gpu_frac', 'gpu_mem_bw', 'gpu_name', 'gpu_ram', 'gpu_total_ram', 'gpu_max_power',
    'gpu_max_temp', 'has_avx', 'host_id', 'id', 'inet_down', 'inet_down_cost', 'inet_up', 'inet_up_cost',
    'machine_id', 'min_bid', 'mobo_name', 'num_gpus', 'pci_gen', 'pcie_bw', 'reliability', 'rentable', 'rented',
    'storage_cost', 'static_ip', 'total_flops', 'ubuntu_version', 'os_version', 'verification', 'verified',
    'vms_enabled', 'geolocation', 'cluster_id',
))
ORDER_FIELDS = OFFER_FIELDS | {'score'}
QUERY_KEYS = frozenset(('order', 'type', 'limit', 'allocated_storage', 'disable_bundling'))
OFFER_TYPES = ('on-demand', 'ondemand', 'bid', 'interruptible', 'reserved')

CREATE_FIELDS = frozenset((
    'client_id', 'image', 'template_hash_id', 'template_id', 'label', 'disk', 'runtype', 'target_state', 'price',
    'env', 'cancel_unavail', 'vm', 'onstart', 'args', 'args_str', 'use_jupyter_lab', 'jupyter_dir', 'python_utf8',
    'lang_utf8', 'force', 'user', 'image_login', 'volume_info', 'extra',
))
RUNTYPE_TOKENS = frozenset(('ssh', 'jupyter', 'args', 'ssh_proxy', 'ssh_direct', 'ssh_direc', 'jupyter_proxy',
                            'jupyter_direct', 'jupyter_direc'))

# v1 list: columns stored on the contract record (filterable); computed ones are not.
LIST_FILTERABLE = frozenset(('actual_status', 'gpu_name', 'verification', 'id', 'label', 'intended_status',
                             'cur_state', 'next_state', 'machine_id', 'host_id', 'image_uuid', 'template_id',
                             'template_hash_id', 'is_bid', 'start_date', 'end_date'))
LIST_ORDERABLE = LIST_FILTERABLE | {'gpu_name', 'num_gpus', 'dph_total', 'disk_space'}

# Seconds between two calls of one endpoint by one identity (the spec's 429 examples).
DEFAULT_RATE_LIMITS = {
    'PUT /api/v0/asks/{id}/': 4.5,
    'GET /api/v0/instances/{id}/': 2.0,
    'PUT /api/v0/instances/{id}/': 1.0,
    'DELETE /api/v0/instances/{id}/': 3.0,
    'GET /api/v1/instances/': 1.0,
    'POST /api/v0/ssh/': 1.0,
    'PUT /api/v0/ssh/{id}/': 1.0,
    'DELETE /api/v0/instances/{id}/ssh/{key_id}/': 2.0,
}

NO_SUCH_ASK_404 = 'error 404/3603: no_such_ask Instance type by id %s is not available.'
NO_SUCH_ASK_410 = 'error 410/3907: no_such_ask Instance type %s is no longer available.'
DEPRECATED_LIST = '/api/v0/instances/ is deprecated. Use /api/v1/instances/ instead.'

_KEY_LINE = re.compile(r'^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9-]+@openssh\.com)\s+[A-Za-z0-9+/]+={0,2}(\s.*)?$')


def _offer(oid, gpu, count, dph_base, geo, verified=True, reliability=0.995, rented=False, disk=2000.0,
           cuda=12.8, inet_down=5000.0, gpu_ram=81559, machine=None, **extra):
    offer = dict(
        id=oid, ask_contract_id=oid, bundle_id=900000 + oid, machine_id=machine or 50000 + oid, host_id=70000 + oid % 97,
        gpu_name=gpu, num_gpus=count, gpu_ram=gpu_ram, gpu_total_ram=gpu_ram * count, gpu_frac=1.0, gpu_arch='nvidia',
        gpu_display_active=False, gpu_max_power=700, gpu_max_temp=87, gpu_mem_bw=3350.0, compute_cap=900,
        cpu_arch='amd64', cpu_name='AMD EPYC 9654 96-Core Processor', cpu_cores=192, cpu_cores_effective=24.0 * count,
        cpu_ghz=2.4, cpu_ram=128000 * count, disk_space=disk, disk_bw=6000.0, disk_name='NVMe', cuda_max_good=cuda,
        driver_version='570.133.20', dph_base=dph_base, min_bid=round(dph_base * 0.55, 4), storage_cost=0.15,
        inet_up=inet_down * 0.8, inet_down=inet_down, inet_up_cost=0.002, inet_down_cost=0.002, reliability=reliability,
        reliability2=reliability, verification='verified' if verified else 'unverified', rentable=True, rented=rented,
        is_bid=False, direct_port_count=100, public_ipaddr='198.51.100.%d' % (oid % 250 + 1), geolocation=geo,
        datacenter=None, static_ip=True, external=False, score=round(100.0 * reliability * count / dph_base, 4),
        start_date=1893450000.5, end_date=1924986000.0, duration=2592000.0, pci_gen=5.0, pcie_bw=52.0, bw_nvlink=900.0 if count > 1 else 0.0,
        total_flops=989.0 * count, dlperf=120.0 * count, mobo_name='H13DSG-O-CPU', has_avx=1, vms_enabled=False,
        os_version='22.04', ubuntu_version='22.04', hosting_type=1, cluster_id=None,
    )
    offer.update(extra)
    return offer


def default_offers():
    """A catalog for nanochat: eight-GPU H100 SXM offers at several prices, verified or not, one rented."""
    return [
        _offer(2001, 'H100 SXM', 8, 15.20, 'Texas, US', reliability=0.995),
        _offer(2002, 'H100 SXM', 8, 14.40, 'California, US', verified=False, reliability=0.97),
        _offer(2003, 'H100 SXM', 8, 16.00, 'Hesse, DE', reliability=0.999),
        _offer(2004, 'H100 SXM', 8, 13.90, 'Virginia, US', rented=True, reliability=0.998),
        _offer(2005, 'H100 SXM', 8, 17.50, 'Quebec, CA', reliability=0.999),
        _offer(2006, 'H100 SXM', 8, 15.60, 'Oregon, US', reliability=0.992),
        _offer(2007, 'H100 SXM', 8, 12.80, 'Stockholm, SE', verified=False, reliability=0.91),
        _offer(2008, 'H100 SXM', 8, 18.40, 'Tokyo, JP', reliability=0.999, cuda=12.4),
        _offer(2011, 'H100 SXM', 1, 1.95, 'Texas, US'),
        _offer(2012, 'H100 SXM', 4, 7.80, 'Ohio, US'),
        _offer(2021, 'H100 PCIE', 8, 11.20, 'Utah, US', gpu_ram=81559),
        _offer(2031, 'A100 SXM4', 8, 8.40, 'Nevada, US', gpu_ram=81920),
        _offer(2041, 'H200', 8, 22.40, 'Texas, US', gpu_ram=143771),
        _offer(2051, 'RTX 4090', 1, 0.38, 'Ontario, CA', gpu_ram=24564, reliability=0.985),
        _offer(2052, 'RTX 4090', 2, 0.74, 'Bavaria, DE', gpu_ram=24564, verified=False),
    ]


def _country(geolocation):
    tail = str(geolocation or '').strip().rsplit(',', maxsplit=1)[-1].strip().upper()
    return tail if re.match(r'^[A-Z]{2}$', tail) else None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class QueryError(Exception):
    pass


def _match(value, op, expected):
    if op in ('in', 'notin'):
        if not isinstance(expected, list):
            raise QueryError('operator %s needs a list' % op)
        found = value in expected
        return found if op == 'in' else not found
    if isinstance(expected, (list, dict)):
        raise QueryError('operator %s needs a single value' % op)
    if op == 'eq':
        return value == expected
    if op == 'neq':
        return value != expected
    if not _is_number(expected):
        raise QueryError('operator %s needs a number, got %r' % (op, expected))
    if not _is_number(value):
        return False
    return {'gt': value > expected, 'gte': value >= expected, 'lt': value < expected, 'lte': value <= expected}[op]


def _cmp_values(a, b):
    if a is None or b is None:
        return (a is not None) - (b is not None)
    try:
        return (a > b) - (a < b)
    except TypeError:
        return (str(a) > str(b)) - (str(a) < str(b))


class FakeVast(FakeApi):
    """The fake Vast.ai API; see the module docstring for what it implements."""

    provider = 'vastai'

    def __init__(self, api_key='test-key', boot_delay=0.5, machines=None, clock=time.monotonic, offers=None,
                 rate_limits=None, rate_limit_body='text', search_quota=None, search_quota_retry_after=None,
                 missing_instance='null', auth_error_status=None, user_id=456):
        self.offers = copy.deepcopy(offers) if offers is not None else default_offers()
        self.rate_limits = dict(DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits)
        self.rate_limit_body = rate_limit_body
        self.search_quota = search_quota
        self.search_quota_retry_after = search_quota_retry_after
        self.search_count = 0
        self.missing_instance = missing_instance
        self.auth_error_status = auth_error_status
        self.user_id = user_id
        self.instances = {}
        self.destroyed = {}
        self.ssh_keys = []
        self.next_instance_id = 31000001
        self.next_key_id = 9001
        self.last_call = {}
        self.snatched = set()
        self.unavailable = set()
        self.provision_failures = {}
        super(FakeVast, self).__init__(api_key=api_key, boot_delay=boot_delay, machines=machines, clock=clock)

    # --- routing ----------------------------------------------------------------------------
    def routes(self):
        num = r'(?P<id>[^/]+)'
        return [
            ('POST', r'/api/v0/bundles/?', self.search_bundles),
            ('GET', r'/api/v0/bundles/?', self.search_bundles_get),
            ('PUT', r'/api/v0/search/asks/?', self.search_asks),
            ('PUT', r'/api/v0/asks/%s/?' % num, self.create_instance),
            ('GET', r'/api/v0/instances/?', self.legacy_list),
            ('GET', r'/api/v1/instances/?', self.list_instances),
            ('GET', r'/api/v0/instances/%s/?' % num, self.get_instance),
            ('PUT', r'/api/v0/instances/%s/?' % num, self.manage_instance),
            ('DELETE', r'/api/v0/instances/%s/?' % num, self.destroy_instance),
            ('GET', r'/api/v0/instances/%s/ssh/?' % num, self.instance_keys),
            ('POST', r'/api/v0/instances/%s/ssh/?' % num, self.attach_key),
            ('DELETE', r'/api/v0/instances/%s/ssh/(?P<key_id>[^/]+)/?' % num, self.detach_key),
            ('GET', r'/api/v0/ssh/?', self.list_keys),
            ('POST', r'/api/v0/ssh/?', self.create_key),
            ('PUT', r'/api/v0/ssh/%s/?' % num, self.update_key),
            ('DELETE', r'/api/v0/ssh/%s/?' % num, self.delete_key),
            ('GET', r'/api/v0/users/current/?', self.current_user),
        ]

    _TEMPLATES = (
        (re.compile(r'^/api/v0/asks/[^/]+/?$'), '/api/v0/asks/{id}/'),
        (re.compile(r'^/api/v0/instances/[^/]+/ssh/[^/]+/?$'), '/api/v0/instances/{id}/ssh/{key_id}/'),
        (re.compile(r'^/api/v0/instances/[^/]+/ssh/?$'), '/api/v0/instances/{id}/ssh/'),
        (re.compile(r'^/api/v0/instances/?$'), '/api/v0/instances/'),
        (re.compile(r'^/api/v0/instances/[^/]+/?$'), '/api/v0/instances/{id}/'),
        (re.compile(r'^/api/v1/instances/?$'), '/api/v1/instances/'),
        (re.compile(r'^/api/v0/ssh/[^/]+/?$'), '/api/v0/ssh/{id}/'),
    )

    def endpoint(self, req):
        """``METHOD /template/`` of a request, the unit rate limits apply to."""
        for pattern, template in self._TEMPLATES:
            if pattern.match(req.path):
                return '%s %s' % (req.method, template)
        return '%s %s/' % (req.method, req.path.rstrip('/'))

    # --- hooks ------------------------------------------------------------------------------
    def authenticate(self, req):
        query_key = req.query.pop('api_key', None)  # never kept in the call log
        if self.bearer_ok(req) or (query_key and query_key[-1] == self.api_key):
            return None
        status = self.auth_error_status or (404 if re.match(r'^/api/v0/bundles/?$', req.path) else 401)
        return self.error(status, 'Invalid user key', code='auth_error')

    def error(self, status, message, code=None, headers=None, **extra):
        default = {400: 'invalid_args', 401: 'auth_error', 403: 'forbidden', 404: 'not_found',
                   405: 'method_not_allowed', 410: 'gone'}.get(status, 'server_error')
        body = dict(success=False, error=code or default, msg=message)
        body.update(extra)
        return Response(status, body, headers=headers)

    def _identity(self, req):
        return req.headers.get('authorization') or 'query-key'

    def rate_limit(self, req):
        endpoint = self.endpoint(req)
        interval = self.rate_limits.get(endpoint)
        if not interval:
            return None
        key = (self._identity(req), endpoint)
        now = self.clock()
        with self.lock:
            last = self.last_call.get(key)
            if last is not None and now - last < interval:
                text = 'API requests too frequent endpoint threshold=%s' % interval
                if self.rate_limit_body == 'json':
                    if req.method == 'DELETE':
                        return Response(429, dict(success=False, error='rate_limit_exceeded', msg=text))
                    return Response(429, dict(detail=text))
                return Response(429, text, content_type='text/plain')
            self.last_call[key] = now
        return None

    def state(self):
        with self.lock:
            return dict(
                instances=dict((str(i), self._view(inst)) for i, inst in self.instances.items()),
                destroyed=sorted(self.destroyed),
                offers=[dict(id=o['id'], gpu_name=o['gpu_name'], num_gpus=o['num_gpus'], rented=o['rented'],
                             verification=o['verification'], dph_base=o['dph_base']) for o in self.offers],
                ssh_keys=[dict(k) for k in self.ssh_keys],
                search_count=self.search_count,
            )

    # --- test controls ----------------------------------------------------------------------
    def offer(self, offer_id):
        for offer in self.offers:
            if offer['id'] == int(offer_id):
                return offer
        return None

    def snatch(self, offer_id):
        """Someone else rents the offer between our search and our create: searches still list
        it (stale), the create gets 404 no_such_ask."""
        self.snatched.add(int(offer_id))

    def make_unavailable(self, offer_id):
        """The offer cannot start now: a create answers 410 no_such_ask."""
        self.unavailable.add(int(offer_id))

    def fail_provisioning(self, offer_id, status='exited'):
        """Instances created on this offer end in ``status`` instead of running (``oci``: stuck in
        ``created`` with "OCI runtime create failed" in ``status_msg``)."""
        self.provision_failures[int(offer_id)] = status

    def force_status(self, instance_id, actual_status):
        with self.lock:
            inst = self.instances[int(instance_id)]
            inst['_forced'] = actual_status
            inst['actual_status'] = actual_status

    def view(self, instance_id):
        with self.lock:
            inst = self.instances.get(int(instance_id))
            return self._view(inst) if inst else None

    def named(self, label):
        with self.lock:
            return [self._view(i) for i in self.instances.values() if i.get('label') == label]

    def add_account_key(self, public_key):
        with self.lock:
            return self._add_key(public_key)

    # --- test seeding (no HTTP, nothing in the call log, no rate limit) -----------------------
    def seed_instance(self, label, offer_id=2001, state='running', image='pytorch/pytorch:latest',
                      runtype='ssh_direc ssh_proxy', env=None, disk=20.0):
        """Insert an instance directly into the fake's state, as a create on ``offer_id`` would
        make it, and return its id. For tests and benchmarks that need many instances without
        many rate-limited creates; the offer is only a template (it is not marked rented, and
        any number of instances can be seeded from it).

        ``state``: ``running`` (SSH-ready at the next read: the machines backend boots it then),
        ``loading`` (stays loading whatever the clock says, like ``force_status``) or ``stopped``.
        """
        assert state in ('running', 'loading', 'stopped'), state
        with self.lock:
            offer = self.offer(offer_id)
            assert offer is not None, 'no offer %s to seed from' % offer_id
            body = dict(image=image, label=label, disk=disk, runtype=runtype, env=dict(env or {}))
            if state == 'stopped':
                body['target_state'] = 'stopped'
            new_id = self._new_instance(offer, offer_id, body)
            inst = self.instances[new_id]
            inst['_offer_id'] = -1  # seeded: destroying it must not make the template offer rentable
            if state == 'running':
                inst['_since'] = self.clock() - self.boot_delay - 1.0
            elif state == 'loading':
                inst['_forced'] = inst['actual_status'] = 'loading'
            return new_id

    # --- instance state machine -------------------------------------------------------------
    def _advance(self, inst):
        if inst.get('_forced'):
            inst['actual_status'] = inst['_forced']
            return
        if inst['intended_status'] == 'stopped':
            inst['actual_status'] = 'stopped'
            return
        if inst['actual_status'] == 'running' or inst['actual_status'] in ('exited', 'unknown', 'offline'):
            return
        elapsed = self.clock() - inst['_since']
        if elapsed < self.boot_delay / 3.0:
            inst['actual_status'] = None if inst['_first_boot'] else 'loading'
            inst['status_msg'] = None
            return
        if elapsed < self.boot_delay:
            inst['actual_status'] = 'loading'
            inst['status_msg'] = 'Pulling image %s' % inst['image_uuid']
            return
        failure = inst.get('_failure')
        if failure == 'oci':
            # The container runtime cannot create the container: it stays "created" for good.
            inst['actual_status'] = 'created'
            inst['status_msg'] = ('Error response from daemon: failed to create task for container: failed to create '
                                  'shim task: OCI runtime create failed: runc create failed: unable to start container '
                                  'process: exec: "/bin/sh": permission denied: unknown')
            return
        if failure:
            inst['actual_status'] = failure
            inst['status_msg'] = ('Error response from daemon: container exited with code 1' if failure == 'exited'
                                  else 'host not responding')
            return
        self._boot(inst)

    def _boot(self, inst):
        endpoint = self.machines.boot('vastai', str(inst['id']), list(inst['_keys']), 'root', name=inst.get('label'))
        inst['_first_boot'] = False
        inst['actual_status'] = 'running'
        inst['cur_state'] = inst['next_state'] = 'running'
        inst['status_msg'] = 'success, running %s/ssh' % inst['image_uuid'].replace(':', '_')
        proxy_host = 'ssh%d.vast.ai' % (inst['id'] % 9 + 1)
        proxy_port = 10000 + inst['id'] % 50000
        if inst['_direct']:
            inst['public_ipaddr'] = endpoint['host']
            inst['ports'] = {'22/tcp': [{'HostIp': '0.0.0.0', 'HostPort': str(endpoint['port'])}]}
            for key in inst['_mapped_ports']:
                inst['ports'][key] = [{'HostIp': '0.0.0.0', 'HostPort': str(inst['direct_port_start'] + 1 + len(inst['ports']))}]
            inst['ssh_host'], inst['ssh_port'] = proxy_host, proxy_port
        else:
            inst['public_ipaddr'] = inst['_offer_ip']
            inst['ports'] = {}
            inst['ssh_host'], inst['ssh_port'] = endpoint['host'], int(endpoint['port'])
        inst['ssh_idx'] = str(inst['id'] % 9 + 1)
        inst['local_ipaddrs'] = '10.2.%d.%d 172.17.0.1 \n' % (inst['id'] % 250, inst['id'] % 200 + 2)
        inst['uptime_mins'] = 0.0

    def _view(self, inst):
        self._advance(inst)
        return dict((k, copy.deepcopy(v)) for k, v in inst.items() if not k.startswith('_'))

    def _parse_id(self, value, what='instance_id'):
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise QueryError('invalid %s' % what)
        if number <= 0:
            raise QueryError('invalid %s' % what)
        return number

    def _instance_or_error(self, id, code='not_found', msg='Instance not found'):
        try:
            number = self._parse_id(id)
        except QueryError as exc:
            return None, self.error(400, str(exc), code='invalid_args')
        inst = self.instances.get(number)
        if inst is None:
            return None, self.error(404, msg, code=code)
        return inst, None

    def _json_object(self, req):
        try:
            body = req.json()
        except ValueError:
            return None, self.error(400, 'Invalid json body', code='invalid_request')
        if not isinstance(body, dict):
            return None, self.error(400, 'Invalid json body', code='invalid_request')
        return body, None

    def _authorize_machine(self, inst):
        if inst.get('actual_status') == 'running':
            authorize = getattr(self.machines, 'authorize', None)
            if authorize is not None:
                authorize('vastai', str(inst['id']), list(inst['_keys']))

    # --- offers -----------------------------------------------------------------------------
    def _search(self, query):
        if not isinstance(query, dict):
            return self.error(400, 'Invalid json body', code='invalid_request')
        if self.search_quota is not None and self.search_count >= self.search_quota:
            headers = {}
            if self.search_quota_retry_after is not None:
                headers['Retry-After'] = str(self.search_quota_retry_after)
            return Response(429, dict(success=False, error='search_quota_exceeded',
                                      msg='Daily search quota exceeded; it resets at 00:00 UTC.'), headers=headers)
        self.search_count += 1
        try:
            offers = self._select_offers(query)
        except QueryError as exc:
            return self.error(400, 'Error in query parameters: %s' % exc, code='invalid_request')
        return Response(200, dict(offers=offers))

    def _offer_value(self, offer, field):
        if field == 'verified':
            return offer['verification'] == 'verified'
        if field == 'geolocation':
            return _country(offer.get('geolocation'))
        if field == 'ubuntu_version':
            return offer.get('os_version')
        return offer.get(field)

    def _select_offers(self, query):
        kind = query.get('type', 'on-demand')
        if kind not in OFFER_TYPES:
            raise QueryError('invalid type %r (expected on-demand, bid or reserved)' % (kind,))
        storage = query.get('allocated_storage', 5.0)
        if not _is_number(storage) or storage < 0:
            raise QueryError('allocated_storage must be a number of GB')
        limit = query.get('limit', 64)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            raise QueryError('limit must be a positive integer')
        order = query.get('order', [['score', 'desc']])
        if not isinstance(order, list) or not all(
                isinstance(o, list) and len(o) == 2 and o[0] in ORDER_FIELDS and o[1] in ('asc', 'desc') for o in order):
            raise QueryError('order must be a list of [field, "asc"|"desc"] with known fields, got %s' % json.dumps(order))
        filters = {}
        for field, condition in query.items():
            if field in QUERY_KEYS:
                continue
            if field not in OFFER_FIELDS:
                raise QueryError('%s is not a valid search key' % field)
            if not isinstance(condition, dict) or not condition:
                raise QueryError('%s needs an object of operators such as {"eq": ...}' % field)
            for op in condition:
                if op not in OPERATORS:
                    raise QueryError('unknown operator %r for %s' % (op, field))
            filters[field] = condition
        results = []
        for base in self.offers:
            offer = copy.deepcopy(base)
            price = offer['min_bid'] if kind in ('bid', 'interruptible') else offer['dph_base']
            offer['dph_total'] = round(price + offer['storage_cost'] * storage / 720.0, 6)
            offer['is_bid'] = kind in ('bid', 'interruptible')
            offer['dlperf_per_dphtotal'] = round(offer['dlperf'] / offer['dph_total'], 4)
            offer['flops_per_dphtotal'] = round(offer['total_flops'] / offer['dph_total'], 4)
            offer['rentable'] = not offer['rented']
            if all(_match(self._offer_value(offer, f), op, v) for f, c in filters.items() for op, v in c.items()):
                results.append(offer)
        for field, direction in reversed(order):
            results.sort(key=lambda o, f=field: (o.get(f) is None, o.get(f) if o.get(f) is not None else 0),
                         reverse=(direction == 'desc'))
        return results[:limit]

    def search_bundles(self, req):
        body, error = self._json_object(req)
        return error or self._search(body)

    def search_bundles_get(self, req):
        try:
            query = json.loads(req.arg('q', '{}'))
        except ValueError:
            return self.error(400, 'Invalid json in q', code='invalid_request')
        return self._search(query)

    def search_asks(self, req):
        body, error = self._json_object(req)
        if error:
            return error
        unknown = sorted(set(body) - {'select_cols', 'q'})
        if unknown or not isinstance(body.get('q'), dict):
            return self.error(400, 'Invalid request: expected {"select_cols": [...], "q": {...}}', code='invalid_request')
        return self._search(body['q'])

    # --- create -----------------------------------------------------------------------------
    def _check_create(self, body):
        unknown = sorted(set(body) - CREATE_FIELDS)
        if unknown:
            return 'unknown field(s) %s' % ', '.join(unknown)
        if not body.get('image') and not body.get('template_hash_id'):
            return "'image' is required"
        for field in ('image', 'label', 'onstart', 'template_hash_id', 'image_login', 'args_str', 'jupyter_dir', 'user'):
            if field in body and body[field] is not None and not isinstance(body[field], str):
                return "'%s' must be a string" % field
        if body.get('client_id', 'me') != 'me':
            return "'client_id' must be \"me\""
        if 'disk' in body and (not _is_number(body['disk']) or body['disk'] <= 0):
            return "'disk' must be a positive number of GB"
        if len(body.get('label') or '') > 1024:
            return "'label' is longer than 1024 characters"
        if len(body.get('onstart') or '') > 4048:
            return "'onstart' is longer than 4048 characters (gzip+base64 longer scripts)"
        runtype = body.get('runtype')
        if runtype is not None and (not isinstance(runtype, str) or not runtype.split()
                                    or set(runtype.split()) - RUNTYPE_TOKENS):
            return "'runtype' %r is not valid" % (runtype,)
        if body.get('target_state', 'running') not in ('running', 'stopped'):
            return "'target_state' must be running or stopped"
        env = body.get('env')
        if env is not None and not isinstance(env, (dict, str)):
            return "'env' must be an object or a docker flag string"
        if isinstance(env, dict) and not all(isinstance(v, str) for v in env.values()):
            return "'env' values must be strings"
        if 'price' in body and (not _is_number(body['price']) or not 0.001 <= body['price'] <= 128):
            return "'price' must be between 0.001 and 128"
        return None

    @staticmethod
    def _env_pairs(env):
        if isinstance(env, dict):
            return [[k, v] for k, v in env.items()]
        pairs = []
        for flag, value in re.findall(r'(-e|-p)\s+(\S+)', env or ''):
            if flag == '-p':
                pairs.append(['-p %s' % value, '1'])
            else:
                key, _sep, val = value.partition('=')
                pairs.append([key, val])
        return pairs

    def create_instance(self, req, id):
        body, error = self._json_object(req)
        if error:
            return self.error(400, 'error 400/3467: Invalid args: invalid json body', code='invalid_args')
        try:
            offer_id = self._parse_id(id, 'offer id')
        except QueryError:
            return self.error(400, "error 400/3467: Invalid args: 'id' is required and must be a valid offer ID",
                              code='invalid_args', ask_id=id)
        problem = self._check_create(body)
        if problem:
            return self.error(400, 'error 400/3467: Invalid args: %s' % problem, code='invalid_args', ask_id=offer_id)
        offer = self.offer(offer_id)
        if offer is None or offer['rented'] or offer_id in self.snatched:
            if offer is not None and offer_id in self.snatched:
                offer['rented'] = True
                self.snatched.discard(offer_id)
            return self.error(404, NO_SUCH_ASK_404 % offer_id, code='invalid_args', ask_id=offer_id)
        if offer_id in self.unavailable:
            return self.error(410, NO_SUCH_ASK_410 % offer_id, code='no_such_ask', ask_id=offer_id)
        offer['rented'] = True
        new_id = self._new_instance(offer, offer_id, body)
        return Response(200, dict(success=True, new_contract=new_id))

    def _new_instance(self, offer, offer_id, body):
        """Record a new instance rented from ``offer`` with a create ``body`` (already checked); its id."""
        new_id = self.next_instance_id
        self.next_instance_id += 1
        disk = float(body.get('disk', 10.0))
        runtype = body.get('runtype') or 'ssh'
        tokens = runtype.split()
        if any(t.startswith('ssh') for t in tokens) and 'ssh' not in tokens:
            tokens.insert(0, 'ssh')
        env_pairs = self._env_pairs(body.get('env'))
        stopped = body.get('target_state') == 'stopped'
        inst = dict(
            id=new_id, label=body.get('label'), machine_id=offer['machine_id'], host_id=offer['host_id'],
            bundle_id=offer['bundle_id'], actual_status='stopped' if stopped else None,
            intended_status='stopped' if stopped else 'running', cur_state='stopped' if stopped else 'running',
            next_state='stopped' if stopped else 'running', status_msg=None,
            image_uuid=body.get('image') or 'vastai/base-image:@vastai-automatic-tag', image_runtype=' '.join(tokens),
            image_args=list(body.get('args') or []), extra_env=env_pairs, onstart=body.get('onstart'),
            template_id=None, template_hash_id=body.get('template_hash_id'), template_name=None,
            jupyter_token=secrets.token_hex(32), gpu_name=offer['gpu_name'], num_gpus=offer['num_gpus'],
            gpu_ram=offer['gpu_ram'], gpu_totalram=offer['gpu_total_ram'], gpu_arch='nvidia', gpu_frac=1.0,
            cpu_arch='amd64', cpu_name=offer['cpu_name'], cpu_cores=offer['cpu_cores'],
            cpu_cores_effective=offer['cpu_cores_effective'], cpu_ram=offer['cpu_ram'], disk_space=disk,
            cuda_max_good=offer['cuda_max_good'], driver_version=offer['driver_version'],
            dph_base=offer['dph_base'], dph_total=round(offer['dph_base'] + offer['storage_cost'] * disk / 720.0, 6),
            storage_cost=offer['storage_cost'], min_bid=offer['min_bid'], is_bid=False,
            geolocation=offer['geolocation'], verification=offer['verification'], reliability2=offer['reliability2'],
            static_ip=offer['static_ip'], external=False, rentable=True,
            direct_port_count=offer['direct_port_count'], direct_port_start=41200, direct_port_end=41299,
            start_date=time.time(), end_date=offer['end_date'], uptime_mins=None, duration=offer['duration'],
            ssh_host=None, ssh_port=None, ssh_idx=None, public_ipaddr=None, local_ipaddrs=None, ports=None,
            volume_info=[],
        )
        inst.update(
            _since=self.clock(), _first_boot=True, _offer_id=offer_id, _offer_ip=offer['public_ipaddr'],
            _keys=[k['key'] for k in self.ssh_keys], _key_ids=dict((k['key'], k['id']) for k in self.ssh_keys),
            _direct=any(t in ('ssh_direct', 'ssh_direc', 'jupyter_direct', 'jupyter_direc') for t in tokens),
            _mapped_ports=[k[3:].split(':')[-1] + '/tcp' for k, _v in env_pairs if k.startswith('-p ')],
            _failure=self.provision_failures.get(offer_id),
        )
        self.instances[new_id] = inst
        return new_id

    # --- instances --------------------------------------------------------------------------
    def legacy_list(self, req):
        return self.error(410, DEPRECATED_LIST, code='deprecated_endpoint')

    def _json_param(self, req, name, default, kind):
        raw = req.arg(name)
        if raw is None:
            return default
        try:
            value = json.loads(raw)
        except ValueError:
            raise QueryError('%s must be JSON-encoded, got %r' % (name, raw[:80]))
        if not isinstance(value, kind):
            raise QueryError('%s must be a JSON %s' % (name, 'array' if kind is list else 'object'))
        return value

    def list_instances(self, req):
        try:
            limit_text = req.arg('limit', '25')
            try:
                limit = int(limit_text)
            except ValueError:
                raise QueryError('limit must be an integer')
            limit = 5 if limit <= 0 else min(limit, 25)
            order_by = self._json_param(req, 'order_by', [], list)
            filters = self._json_param(req, 'select_filters', {}, dict)
            cols = self._json_param(req, 'select_cols', ['*'], list)
            order = []
            for item in order_by:
                if not isinstance(item, dict) or item.get('col') not in LIST_ORDERABLE:
                    raise QueryError('invalid order_by column %s' % json.dumps(item))
                order.append((item['col'], 'desc' if item.get('dir') == 'desc' else 'asc'))
            order.append(('id', 'asc'))
            for col, condition in filters.items():
                if col not in LIST_FILTERABLE:
                    raise QueryError('%s is not a valid search key' % col)
                if not isinstance(condition, dict) or any(op not in OPERATORS for op in condition):
                    raise QueryError('invalid filter for %s' % col)
        except QueryError as exc:
            return self.error(400, 'Error in query parameters: %s' % exc, code='invalid_request')

        views = [self._view(i) for i in self.instances.values()]
        try:
            rows = [v for v in views if all(_match(v.get(c), op, val) for c, cond in filters.items() for op, val in cond.items())]
        except QueryError as exc:
            return self.error(400, 'Error in query parameters: %s' % exc, code='invalid_request')

        def compare(a, b):
            for col, direction in order:
                result = _cmp_values(a.get(col), b.get(col))
                if result:
                    return -result if direction == 'desc' else result
            return 0

        rows.sort(key=functools.cmp_to_key(compare))
        total = len(rows)
        token = req.arg('after_token')
        if token:
            try:
                cursor = json.loads(base64.urlsafe_b64decode(token.encode()).decode())['values']
                if not isinstance(cursor, dict):
                    raise ValueError()
            except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
                return self.error(400, 'Invalid after_token', code='invalid_token')
            rows = [r for r in rows if compare(r, cursor) > 0]
        page, more = rows[:limit], len(rows) > limit
        next_token = None
        if more:
            last = page[-1]
            cursor = dict((col, last.get(col)) for col, _d in order)
            next_token = base64.urlsafe_b64encode(json.dumps({'values': cursor}).encode()).decode()
        if cols != ['*']:
            page = [dict((c, r.get(c)) for c in cols) for r in page]
        counts = {}
        for view in views:
            counts[view.get('label') or ''] = counts.get(view.get('label') or '', 0) + 1
        return Response(200, dict(success=True, instances_found=len(page), total_instances=total,
                                  label_counts=counts, next_token=next_token, instances=page))

    def get_instance(self, req, id):
        try:
            number = self._parse_id(id)
        except QueryError as exc:
            return self.error(400, str(exc), code='invalid_args')
        inst = self.instances.get(number)
        if inst is None:
            if self.missing_instance == '404':
                return self.error(404, 'Instance not found', code='not_found')
            return Response(200, dict(instances=None))
        return Response(200, dict(instances=self._view(inst)))

    def manage_instance(self, req, id):
        inst, error = self._instance_or_error(id)
        if error:
            return error
        body, error = self._json_object(req)
        if error:
            return error
        unknown = sorted(set(body) - {'state', 'label'})
        if unknown or not body:
            return self.error(400, 'Invalid args: expected "state" and/or "label"%s'
                              % (', got unknown field(s) %s' % ', '.join(unknown) if unknown else ''), code='invalid_args')
        if 'state' in body and body['state'] not in ('running', 'stopped'):
            return self.error(400, 'Invalid args: state must be "running" or "stopped"', code='invalid_args')
        if 'label' in body and (not isinstance(body['label'], str) or len(body['label']) > 1024):
            return self.error(400, 'Invalid args: label must be a string of at most 1024 characters', code='invalid_args')
        if 'label' in body:
            inst['label'] = body['label']
        state = body.get('state')
        self._advance(inst)
        if state == 'stopped' and inst['intended_status'] != 'stopped':
            inst['intended_status'] = inst['cur_state'] = inst['next_state'] = 'stopped'
            inst['actual_status'] = 'stopped'
            inst['ports'] = None
            inst['status_msg'] = 'stopped by user'
            self.machines.stop('vastai', str(inst['id']))
        elif state == 'running' and inst['intended_status'] != 'running':
            inst['intended_status'] = inst['cur_state'] = inst['next_state'] = 'running'
            inst['actual_status'] = 'loading'
            inst['_since'] = self.clock() - self.boot_delay / 3.0
        return Response(200, dict(success=True))

    def destroy_instance(self, req, id):
        inst, error = self._instance_or_error(id)
        if error:
            return error
        del self.instances[inst['id']]
        self.destroyed[inst['id']] = inst.get('label')
        offer = self.offer(inst['_offer_id'])
        if offer is not None:
            offer['rented'] = False
        self.machines.destroy('vastai', str(inst['id']))
        return Response(200, dict(success=True, msg='Instance destroyed successfully'))

    # --- SSH keys ---------------------------------------------------------------------------
    def _key_from_body(self, req):
        body, error = self._json_object(req)
        if error:
            return None, error
        key = body.get('ssh_key')
        if not isinstance(key, str) or not key.strip():
            return None, self.error(400, 'No ssh key provided', code='no_ssh_key')
        if not _KEY_LINE.match(key.strip()):
            return None, self.error(400, 'Invalid ssh key', code='invalid_args')
        return key.strip(), None

    def _add_key(self, text):
        key = dict(id=self.next_key_id, user_id=self.user_id, key=text,
                   created_at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), deleted_at=None)
        self.next_key_id += 1
        self.ssh_keys.append(key)
        for inst in self.instances.values():
            if text not in inst['_keys']:
                inst['_keys'].append(text)
                self._advance(inst)
                self._authorize_machine(inst)
        return key

    def list_keys(self, req):
        return Response(200, [dict(k) for k in self.ssh_keys])

    def create_key(self, req):
        text, error = self._key_from_body(req)
        if error:
            return error
        key = self._add_key(text)
        created = dict(id=key['id'], user_id=key['user_id'], public_key=key['key'], created_at=key['created_at'],
                       deleted_at=None)
        return Response(200, dict(success=True, key=created))

    def _account_key(self, id):
        try:
            number = self._parse_id(id, 'ssh key id')
        except QueryError:
            return None
        for key in self.ssh_keys:
            if key['id'] == number:
                return key
        return None

    def update_key(self, req, id):
        key = self._account_key(id)
        if key is None:
            return self.error(400, 'No ssh key provided', code='no_ssh_key')
        text, error = self._key_from_body(req)
        if error:
            return error
        key['key'] = text
        return Response(200, dict(success=True, key=dict(key, public_key=text)))

    def delete_key(self, req, id):
        key = self._account_key(id)
        if key is None:
            return self.error(400, 'No ssh key provided', code='no_ssh_key')
        self.ssh_keys.remove(key)
        return Response(200, dict(success=True))

    def _instance_key_objects(self, inst):
        objects = []
        for text in inst['_keys']:
            account = [k for k in self.ssh_keys if k['key'] == text]
            if text not in inst['_key_ids']:
                inst['_key_ids'][text] = account[0]['id'] if account else self.next_key_id
                if not account:
                    self.next_key_id += 1
            fields = text.split(None, 2)
            objects.append(dict(id=inst['_key_ids'][text], name=fields[2] if len(fields) == 3 else '', public_key=text))
        return objects

    def instance_keys(self, req, id):
        inst, error = self._instance_or_error(id, code='no_such_instance', msg='Instance not found.')
        if error:
            return error
        return Response(200, dict(success=True, ssh_keys=json.dumps(self._instance_key_objects(inst))))

    def attach_key(self, req, id):
        inst, error = self._instance_or_error(id, code='no_such_instance', msg='Instance not found.')
        if error:
            return error
        text, error = self._key_from_body(req)
        if error:
            return error
        if text not in inst['_keys']:
            inst['_keys'].append(text)
            self._advance(inst)
            self._authorize_machine(inst)
        return Response(200, dict(success=True, msg='SSH key attached successfully'))

    def detach_key(self, req, id, key_id):
        inst, error = self._instance_or_error(id, code='no_such_instance', msg='Instance not found.')
        if error:
            return error
        for obj in self._instance_key_objects(inst):
            if str(obj['id']) == str(key_id):
                inst['_keys'].remove(obj['public_key'])
                return Response(200, dict(success=True, msg='SSH key removed from instance.'))
        return self.error(404, 'SSH key not found.', code='no_such_ssh_key')

    def current_user(self, req):
        return Response(200, dict(id=self.user_id, username='nanochat', email='nanochat@example.com', credit=250.0,
                                  balance=0.0, ssh_key=self.ssh_keys[0]['key'] if self.ssh_keys else None))
