# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A strict fake of the RunPod REST API v2 (provider-apis.md §1, state machine §1.14).

Implemented, at the spec's paths under the host root:

- ``GET /v2/pods``, ``GET|PATCH|DELETE /v2/pods/{id}``, ``POST /v2/pods``,
  ``POST /v2/pods/{id}/action`` (start, stop, restart, terminate);
- ``GET /v2/catalog/gpus``, ``GET /v2/catalog/gpus/{id}`` (with ``include=AVAILABILITY``,
  ``product``, ``count``, ``cloud``, ``countryCodes``, ``cudaVersions``, ``minCudaVersion`` and
  their "only with include" / "product required" rules), ``GET /v2/catalog/datacenters``
  (``include=GPU_AVAILABILITY``);
- ``GET|PUT /v2/account/ssh-keys`` (PUT is a full replacement).

Behaviour:

- Auth: ``Authorization: Bearer <key>``; otherwise 401 problem+json (``missing bearer token``).
  Every error is ``application/problem+json`` ``{title, status, detail, errors?}``.
- Closed request schemas (CreatePodRequest, CreateGpuConfig, CreateCpuConfig, Mounts,
  PersistentMount, NetworkMount, UpdatePodRequest, PodActionRequest, UpdateSshKeysRequest):
  unknown fields, wrong types, missing required fields, bad enums, minimums and patterns are a
  422 ``Request validation failed.`` whose ``errors`` list each violation, e.g.
  ``$: additional properties 'gpuTypeIds' not allowed`` (the spec's wording) and
  ``$.action: value must be one of 'start', 'stop', 'restart', 'terminate'`` (recorded). Other
  messages follow the same validator's style. Cross-field rules (exactly one of ``gpu``/``cpu``,
  persistent xor network mount, persistent mount with cpu, allowedCudaVersions with
  minCudaVersion) are a 400.
- Pods: ids of 14 lowercase alphanumerics; ``POST`` answers 201 with ``PROVISIONING``,
  ``ssh.direct`` null, ``runtime`` null; then ``STARTING``; then ``RUNNING`` **without**
  ``ssh.direct``/``runtime`` (the readiness trap) until ``boot_delay`` seconds have passed and the
  pod was seen in that state by at least ``trap_polls`` reads; then ``ssh.direct`` and
  ``runtime.ports`` appear, but only when ``22/tcp`` is in ``ports`` and the pod has SSH keys
  (``env.PUBLIC_KEY``, set by the caller or injected by ``startSsh`` from the account keys at
  creation). At that moment ``machines.boot('runpod', id, keys, 'root')`` gives the endpoint.
  Env keys with empty values are dropped, as RunPod reportedly does.
- Actions follow the status table (PROVISIONING/STARTING: stop, terminate; RUNNING: stop,
  restart, terminate; EXITED/ERROR: start, terminate); anything else is a 409. ``stop`` -> 200
  EXITED, cost 0.0; ``start``/``restart`` -> 200 and back through the trap (a new endpoint from
  the machines backend); ``terminate`` and ``DELETE`` -> 204, then 404 and absent from the list.
- Capacity: a seeded catalog (H100 SXM, H100 PCIe, H200, B200, A100, L40S, RTX 4090, MI300X...)
  with availability per (GPU, data center, cloud) that tests change with ``set_availability``;
  a create that cannot be placed gets the recorded 400 ``There are no longer any instances
  available with the requested specifications. Please refresh and try again.``
  ``insufficient_balance = True`` makes creates answer 402.
- Rate limits per user in fixed ``minute``/``hour``/``day`` windows (defaults: the spec's
  example quotas 60/3000/50000; ``rate_limits=`` or the environment variable
  ``FAKE_RUNPOD_RATE_LIMITS="minute=600,hour=30000"`` change them). Authenticated responses
  carry ``RateLimit`` and ``RateLimit-Policy``; over quota -> 429 ``rate limit exceeded for the
  <window> window`` with ``Retry-After``.
- The fault queue of the base class (capacity, 429, 5xx, "created but 500" with ``mode='apply'``).

Test helpers: ``set_availability``, ``set_pod_error``, ``seed_pod`` (create without HTTP, e.g.
duplicate names), ``pod_view``, ``ssh_keys``, ``insufficient_balance``.
"""

from __future__ import annotations

import datetime
import math
import os
import random
import re
import string
import time
from http import HTTPStatus
from urllib.parse import unquote

from tests.fakes.base import FakeApi, Response

PROBLEM_JSON = 'application/problem+json'
CAPACITY_DETAIL = ('There are no longer any instances available with the requested specifications. '
                   'Please refresh and try again.')
VALIDATION_DETAIL = 'Request validation failed.'
BAD_REQUEST_DETAIL = 'request could not be processed'
NOT_FOUND_DETAIL = 'resource not found'
CONFLICT_DETAIL = 'Action not valid for current pod status'
BALANCE_DETAIL = 'Insufficient balance to deploy this pod. Please add funds to your account.'

ID_ALPHABET = string.ascii_lowercase + string.digits
LEVELS = ('NONE', 'LOW', 'MEDIUM', 'HIGH')
CLOUDS = ('SECURE', 'COMMUNITY')
ACTIONS = ('start', 'stop', 'restart', 'terminate')
ALLOWED_ACTIONS = {
    'PROVISIONING': ['stop', 'terminate'],
    'STARTING': ['stop', 'terminate'],
    'RUNNING': ['stop', 'restart', 'terminate'],
    'EXITED': ['start', 'terminate'],
    'ERROR': ['start', 'terminate'],
}
SSH_KEY_PATTERN = r'^(ssh|ecdsa|sk)-[^\s]+ [^\s]+([ \t][^\n\r]*)?$'
CUDA_PATTERN = r'^\d+\.\d+$'
DEFAULT_RATE_LIMITS = (('minute', 60, 60), ('hour', 3000, 3600), ('day', 50000, 86400))

# --- request schemas (from runpod-rest-v2-openapi.json, hard-coded: CI has only the repo) ----------
# field -> (types, extra rules); types are JSON type names.
CONTAINER_FIELDS = {
    'image': ('string',),
    'args': ('string',),
    'disk': ('integer', {'minimum': 1}),
    'env': ('object', {'values': 'string'}),
    'ports': ('array', {'items': 'string'}),
    'registry': ('string', 'null'),
}
CREATE_POD_FIELDS = dict(CONTAINER_FIELDS, **{
    'name': ('string', {'minLength': 1}),
    'cloud': ('string', {'enum': CLOUDS}),
    'cpu': ('object', {'schema': 'cpu'}),
    'dataCenterIds': ('array', {'items': 'string'}),
    'globalNetworking': ('boolean',),
    'gpu': ('object', {'schema': 'gpu'}),
    'mounts': ('object', {'schema': 'mounts'}),
    'startJupyter': ('boolean',),
    'startSsh': ('boolean',),
    'templateId': ('string', {'minLength': 1}),
})
UPDATE_POD_FIELDS = dict(CONTAINER_FIELDS, **{
    'globalNetworking': ('boolean',),
    'locked': ('boolean',),
    'mounts': ('object', {'schema': 'mounts'}),
    'name': ('string', {'minLength': 1}),
    'templateId': ('string',),
})
SCHEMAS = {
    'create': (CREATE_POD_FIELDS, ('name',)),
    'update': (UPDATE_POD_FIELDS, ()),
    'gpu': ({
        'id': ('string',),
        'count': ('integer', {'minimum': 1}),
        'allowedCudaVersions': ('array', {'items': 'string', 'pattern': CUDA_PATTERN}),
        'minCudaVersion': ('string', {'pattern': CUDA_PATTERN}),
    }, ('id',)),
    'cpu': ({
        'id': ('string', {'minLength': 1}),
        'vcpuCount': ('integer', {'minimum': 2}),
    }, ('id', 'vcpuCount')),
    'mounts': ({
        'persistent': ('object', {'schema': 'persistent'}),
        'network': ('array', {'maxItems': 1, 'item_schema': 'network'}),
    }, ()),
    'persistent': ({
        'size': ('integer', {'minimum': 10}),
        'path': ('string',),
    }, ('size', 'path')),
    'network': ({
        'volumeId': ('string',),
        'path': ('string',),
    }, ('volumeId', 'path')),
    'action': ({
        'action': ('string', {'enum': ACTIONS}),
    }, ('action',)),
    'ssh_keys': ({
        'keys': ('array', {'items': 'string', 'pattern': SSH_KEY_PATTERN}),
    }, ('keys',)),
}

# --- seeded catalog (illustrative list prices, USD per GPU per hour) ---------------------------
DATA_CENTERS = [
    dict(id='US-KS-2', name='US Kansas 2', region='NORTH_AMERICA', country='US', globalNetwork=True,
         networkVolumeTypes=['STANDARD', 'HIGH_PERFORMANCE'], compliance=['SOC_2_TYPE_2', 'ISO_IEC_27001']),
    dict(id='US-TX-3', name='US Texas 3', region='NORTH_AMERICA', country='US', globalNetwork=True,
         networkVolumeTypes=['STANDARD'], compliance=['SOC_2_TYPE_2']),
    dict(id='US-GA-2', name='US Georgia 2', region='NORTH_AMERICA', country='US', globalNetwork=False,
         networkVolumeTypes=['STANDARD'], compliance=[]),
    dict(id='CA-MTL-1', name='CA Montreal 1', region='NORTH_AMERICA', country='CA', globalNetwork=False,
         networkVolumeTypes=['STANDARD'], compliance=['ISO_IEC_27001']),
    dict(id='EU-RO-1', name='EU Romania 1', region='EUROPE', country='RO', globalNetwork=True,
         networkVolumeTypes=['STANDARD', 'HIGH_PERFORMANCE'], compliance=['GDPR', 'ISO_IEC_27001']),
]


def _gpu(gpu_id, name, memory, secure, community, max_secure=8, max_community=8, manufacturer='NVIDIA',
         pool=None, cuda=('12.4', '12.6', '12.8', '13.0')):
    return {
        'id': gpu_id, 'name': name, 'pool': pool, 'manufacturer': manufacturer, 'memory': memory,
        'secure': secure is not None, 'community': community is not None,
        'price': {'secure': secure or 0.0, 'community': community or 0.0},
        'maxCount': {'secure': max_secure if secure is not None else 0,
                     'community': max_community if community is not None else 0},
        '_cuda': list(cuda),
    }


GPU_TYPES = [
    _gpu('NVIDIA H100 80GB HBM3', 'H100 SXM', 80, 2.69, 2.29, pool='HOPPER_141'),
    _gpu('NVIDIA H100 PCIe', 'H100 PCIe', 80, 2.39, 1.99, max_community=4),
    _gpu('NVIDIA H100 NVL', 'H100 NVL', 94, 2.79, 2.59),
    _gpu('NVIDIA H200', 'H200 SXM', 141, 3.59, 3.29, pool='HOPPER_141'),
    _gpu('NVIDIA B200', 'B200', 180, 5.99, None, cuda=('12.8', '13.0')),
    _gpu('NVIDIA A100-SXM4-80GB', 'A100 SXM', 80, 1.49, 1.19, pool='AMPERE_80'),
    _gpu('NVIDIA A100 80GB PCIe', 'A100 PCIe', 80, 1.39, 1.19, pool='AMPERE_80'),
    _gpu('NVIDIA L40S', 'L40S', 48, 0.86, 0.79, pool='ADA_48_PRO'),
    _gpu('NVIDIA RTX A6000', 'RTX A6000', 48, 0.49, 0.33, pool='AMPERE_48'),
    _gpu('NVIDIA GeForce RTX 4090', 'RTX 4090', 24, 0.44, 0.31, max_community=4, pool='ADA_24'),
    _gpu('AMD Instinct MI300X OAM', 'MI300X', 192, 2.49, None, manufacturer='AMD', cuda=()),
]

# (gpu id, data center, cloud) -> level; anything not listed is not offered there.
AVAILABILITY = {
    ('NVIDIA H100 80GB HBM3', 'US-KS-2', 'SECURE'): 'HIGH',
    ('NVIDIA H100 80GB HBM3', 'US-TX-3', 'SECURE'): 'MEDIUM',
    ('NVIDIA H100 80GB HBM3', 'EU-RO-1', 'SECURE'): 'LOW',
    ('NVIDIA H100 80GB HBM3', 'US-GA-2', 'COMMUNITY'): 'LOW',
    ('NVIDIA H100 PCIe', 'CA-MTL-1', 'SECURE'): 'MEDIUM',
    ('NVIDIA H100 PCIe', 'US-GA-2', 'COMMUNITY'): 'HIGH',
    ('NVIDIA H100 NVL', 'US-TX-3', 'SECURE'): 'LOW',
    ('NVIDIA H200', 'US-KS-2', 'SECURE'): 'MEDIUM',
    ('NVIDIA H200', 'EU-RO-1', 'SECURE'): 'LOW',
    ('NVIDIA B200', 'US-TX-3', 'SECURE'): 'LOW',
    ('NVIDIA A100-SXM4-80GB', 'US-KS-2', 'SECURE'): 'HIGH',
    ('NVIDIA A100-SXM4-80GB', 'CA-MTL-1', 'COMMUNITY'): 'MEDIUM',
    ('NVIDIA A100 80GB PCIe', 'US-GA-2', 'COMMUNITY'): 'HIGH',
    ('NVIDIA L40S', 'EU-RO-1', 'SECURE'): 'HIGH',
    ('NVIDIA RTX A6000', 'CA-MTL-1', 'SECURE'): 'HIGH',
    ('NVIDIA GeForce RTX 4090', 'US-KS-2', 'SECURE'): 'HIGH',
    ('NVIDIA GeForce RTX 4090', 'US-GA-2', 'COMMUNITY'): 'HIGH',
    ('AMD Instinct MI300X OAM', 'US-TX-3', 'SECURE'): 'NONE',
}


# --- validation ------------------------------------------------------------------------------

def _json_type(value):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'boolean'
    if isinstance(value, int):
        return 'integer'
    if isinstance(value, float):
        return 'number'
    if isinstance(value, str):
        return 'string'
    if isinstance(value, list):
        return 'array'
    return 'object'


def _quote_list(names):
    return ', '.join("'%s'" % n for n in names)


def validate(schema_name, value, path='$'):
    """Validation errors of ``value`` against one of SCHEMAS (closed objects), as RunPod words them."""
    fields, required = SCHEMAS[schema_name]
    if not isinstance(value, dict):
        return ['%s: got %s, want object' % (path, _json_type(value))]
    errors = []
    missing = [name for name in required if name not in value]
    if len(missing) == 1:
        errors.append("%s: missing property '%s'" % (path, missing[0]))
    elif missing:
        errors.append('%s: missing properties %s' % (path, _quote_list(missing)))
    extra = sorted(name for name in value if name not in fields)
    if extra:
        errors.append('%s: additional properties %s not allowed' % (path, _quote_list(extra)))
    for name in sorted(value):
        if name in fields:
            errors.extend(_validate_field('%s.%s' % (path, name), value[name], fields[name]))
    return errors


def _validate_field(path, value, spec):
    types = [t for t in spec if isinstance(t, str)]
    rules = next((r for r in spec if isinstance(r, dict)), {})
    kind = _json_type(value)
    if kind not in types and not (kind == 'integer' and 'number' in types):
        return ['%s: got %s, want %s' % (path, kind, ' or '.join(types))]
    errors = []
    if 'enum' in rules and value not in rules['enum']:
        errors.append('%s: value must be one of %s' % (path, _quote_list(rules['enum'])))
    if 'minimum' in rules and isinstance(value, int) and value < rules['minimum']:
        errors.append('%s: minimum: got %s, want %s' % (path, value, rules['minimum']))
    if 'minLength' in rules and isinstance(value, str) and len(value) < rules['minLength']:
        errors.append('%s: minLength: got %d, want %d' % (path, len(value), rules['minLength']))
    if 'pattern' in rules and isinstance(value, str) and not re.search(rules['pattern'], value):
        errors.append("%s: '%s' does not match pattern '%s'" % (path, value, rules['pattern']))
    if 'schema' in rules:
        errors.extend(validate(rules['schema'], value, path))
    if kind == 'array':
        if 'maxItems' in rules and len(value) > rules['maxItems']:
            errors.append('%s: maxItems: got %d, want %d' % (path, len(value), rules['maxItems']))
        for index, item in enumerate(value):
            item_path = '%s[%d]' % (path, index)
            if 'item_schema' in rules:
                errors.extend(validate(rules['item_schema'], item, item_path))
            elif 'items' in rules:
                item_rules = {'pattern': rules['pattern']} if 'pattern' in rules else {}
                errors.extend(_validate_field(item_path, item, (rules['items'], item_rules)))
    if kind == 'object' and 'values' in rules:
        for key in sorted(value):
            errors.extend(_validate_field('%s.%s' % (path, key), value[key], (rules['values'],)))
    return errors


def _now_rfc3339():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (now.microsecond // 1000)


def _parse_rate_limits(text):
    limits = dict((name, quota) for name, quota, _window in DEFAULT_RATE_LIMITS)
    for part in (text or '').split(','):
        if '=' in part:
            name, value = part.split('=', 1)
            if name.strip() in limits:
                limits[name.strip()] = int(value)
    return limits


class FakeRunPod(FakeApi):
    """The RunPod REST v2 fake; see the module docstring for what it implements."""

    provider = 'runpod'

    def __init__(self, api_key='test-key', boot_delay=0.5, machines=None, clock=time.monotonic,
                 rate_limits=None, trap_polls=1, ssh_keys=None, seed=None):
        super(FakeRunPod, self).__init__(api_key=api_key, boot_delay=boot_delay, machines=machines, clock=clock)
        if rate_limits is None:
            rate_limits = _parse_rate_limits(os.environ.get('FAKE_RUNPOD_RATE_LIMITS'))
        self.rate_windows = [(name, rate_limits.get(name, quota), window)
                             for name, quota, window in DEFAULT_RATE_LIMITS]
        self.trap_polls = trap_polls
        self.rng = random.Random(seed)
        self.pods = {}
        self.ssh_keys = list(ssh_keys or [])
        self.gpu_types = [dict(g) for g in GPU_TYPES]
        self.data_centers = [dict(dc) for dc in DATA_CENTERS]
        self.availability = dict(AVAILABILITY)
        self.insufficient_balance = False
        self._epoch = clock()
        self._usage = {}

    # --- base hooks ------------------------------------------------------------------------
    def routes(self):
        pod = r'/v2/pods/(?P<pod_id>[^/]+)'
        return [
            ('GET', r'/v2/pods', self.list_pods),
            ('POST', r'/v2/pods', self.create_pod),
            ('GET', pod, self.get_pod),
            ('PATCH', pod, self.update_pod),
            ('DELETE', pod, self.delete_pod),
            ('POST', pod + r'/action', self.pod_action),
            ('GET', r'/v2/catalog/gpus', self.list_gpus),
            ('GET', r'/v2/catalog/gpus/(?P<gpu_id>[^/]+)', self.get_gpu),
            ('GET', r'/v2/catalog/datacenters', self.list_data_centers),
            ('GET', r'/v2/account/ssh-keys', self.get_ssh_keys),
            ('PUT', r'/v2/account/ssh-keys', self.put_ssh_keys),
        ]

    def authenticate(self, req):
        header = req.headers.get('authorization') or ''
        if not header.startswith('Bearer ') or not header[len('Bearer '):].strip():
            return self.error(401, 'missing bearer token')
        if not self.bearer_ok(req):
            return self.error(401, 'invalid bearer token')
        return None

    def error(self, status, message, code=None, **extra):
        headers = extra.pop('headers', None)
        body = dict(title=code or HTTPStatus(status).phrase, status=status, detail=message)
        if extra.get('errors'):
            body['errors'] = list(extra['errors'])
        return Response(status, body, headers=headers, content_type=PROBLEM_JSON)

    def rate_limit(self, req):
        now = self.clock()
        with self.lock:
            states = []
            exceeded = None
            for name, quota, window in self.rate_windows:
                index = int((now - self._epoch) // window)
                used_index, used = self._usage.get(name, (index, 0))
                if used_index != index:
                    used = 0
                reset = self._epoch + (index + 1) * window - now
                states.append((name, quota, window, index, used, reset))
                if used >= quota and exceeded is None:
                    exceeded = (name, reset)
            if exceeded is None:
                for name, _quota, _window, index, used, _reset in states:
                    self._usage[name] = (index, used + 1)
            spent = 0 if exceeded else 1
            remaining = ', '.join('"%s";r=%d;t=%d' % (name, max(0, quota - used - spent), max(1, math.ceil(reset)))
                                  for name, quota, _w, _i, used, reset in states)
            headers = {
                'RateLimit': remaining,
                'RateLimit-Policy': ', '.join('"%s";q=%d;w=%d' % (name, quota, window)
                                              for name, quota, window in self.rate_windows),
            }
        req.rate_limit_headers = headers
        if exceeded is not None:
            retry = dict(headers)
            retry['Retry-After'] = str(max(1, int(math.ceil(exceeded[1]))))
            return self.error(429, 'rate limit exceeded for the %s window' % exceeded[0], headers=retry)
        return None

    def dispatch(self, req):
        response = super(FakeRunPod, self).dispatch(req)
        for key, value in (getattr(req, 'rate_limit_headers', None) or {}).items():
            response.headers.setdefault(key, value)
        return response

    def state(self):
        with self.lock:
            return dict(pods=[self._view(rec) for rec in self.pods.values()], ssh_keys=list(self.ssh_keys),
                        availability=[dict(gpu=g, data_center=dc, cloud=c, availability=level)
                                      for (g, dc, c), level in sorted(self.availability.items())])

    # --- test helpers ------------------------------------------------------------------------
    def set_availability(self, gpu_id, level, data_center_id=None, cloud='SECURE'):
        """Change stock of ``gpu_id`` on ``cloud`` in one data center (or every one offering it)."""
        assert level in LEVELS, level
        with self.lock:
            if data_center_id is not None:
                self.availability[(gpu_id, data_center_id, cloud)] = level
                return
            for key in list(self.availability):
                if key[0] == gpu_id and key[2] == cloud:
                    self.availability[key] = level

    def set_pod_error(self, pod_id):
        """Put a pod into ERROR (its container failed for good)."""
        with self.lock:
            rec = self.pods[pod_id]
            self._halt(rec, 'ERROR')

    def seed_pod(self, body, ready=False):
        """Create a pod as POST /v2/pods would, without HTTP (not in the call log); optionally
        fast-forward it to SSH-ready. Returns the pod's view."""
        with self.lock:
            rec = self._new_pod(body, self._place(body)[0] or self.data_centers[0]['id'])
            if ready:
                rec['phase_start'] -= max(self.boot_delay, 0) + 1
                rec['trap_seen'] = self.trap_polls
            return self._observe(rec)

    def pod_view(self, pod_id):
        with self.lock:
            rec = self.pods.get(pod_id)
            return None if rec is None else self._view(rec)

    # --- pods --------------------------------------------------------------------------------
    def _new_id(self):
        while True:
            pod_id = ''.join(self.rng.choice(ID_ALPHABET) for _index in range(14))
            if pod_id not in self.pods:
                return pod_id

    def _gpu_type(self, gpu_id):
        return next((g for g in self.gpu_types if g['id'] == gpu_id), None)

    def _level(self, gpu_id, dc_id, cloud, count):
        gpu = self._gpu_type(gpu_id)
        if gpu is None or not gpu[cloud.lower()] or count > gpu['maxCount'][cloud.lower()]:
            return 'NONE' if (gpu_id, dc_id, cloud) in self.availability else None
        return self.availability.get((gpu_id, dc_id, cloud))

    def _place(self, body):
        """(data center id, None) for a create body, or (None, error Response)."""
        gpu = body['gpu']
        cloud = body.get('cloud', 'SECURE')
        count = gpu.get('count', 1)
        if self._gpu_type(gpu['id']) is None:
            return None, self.error(400, BAD_REQUEST_DETAIL)
        known = set(dc['id'] for dc in self.data_centers)
        wanted = body.get('dataCenterIds') or []
        if any(dc not in known for dc in wanted):
            return None, self.error(400, BAD_REQUEST_DETAIL)
        candidates = wanted or [dc['id'] for dc in self.data_centers]
        ranked = [(LEVELS.index(self._level(gpu['id'], dc, cloud, count) or 'NONE'), -i, dc)
                  for i, dc in enumerate(candidates)]
        if not wanted:
            ranked.sort(reverse=True)
        for level, _order, dc in ranked:
            if level > 0:
                return dc, None
        return None, self.error(400, CAPACITY_DETAIL)

    def _new_pod(self, body, dc_id):
        pod_id = self._new_id()
        gpu_type = self._gpu_type(body['gpu']['id'])
        cloud = body.get('cloud', 'SECURE')
        count = body['gpu'].get('count', 1)
        env = dict((k, v) for k, v in (body.get('env') or {}).items() if v != '')
        if body.get('startSsh') and 'PUBLIC_KEY' not in env and self.ssh_keys:
            env['PUBLIC_KEY'] = '\n'.join(self.ssh_keys)
        mounts = {}
        if body.get('mounts'):
            mounts = dict(body['mounts'])
        pod = {
            'id': pod_id, 'name': body['name'], 'status': 'PROVISIONING', 'actions': [],
            'image': body.get('image', ''), 'args': body.get('args', ''), 'disk': body.get('disk', 50),
            'mounts': mounts, 'ports': list(body.get('ports') or []), 'env': env,
            'registry': body.get('registry'),
            'gpu': {'id': gpu_type['id'], 'count': count},
            'cloud': cloud, 'dataCenterId': dc_id,
            'cudaVersion': (gpu_type['_cuda'] or [None])[-1],
            'ssh': {'proxy': None, 'direct': None},
            'template': None,
            'cost': round(gpu_type['price'][cloud.lower()] * count, 4),
            'locked': False,
            'globalNetworking': {'enabled': bool(body.get('globalNetworking'))},
            'runtime': None,
            'createdAt': _now_rfc3339(), 'startedAt': None,
        }
        rec = dict(pod=pod, phase='boot', phase_start=self.clock(), trap_seen=0, endpoint=None, booted=False,
                   list_price=pod['cost'], proxy_user='%s-%08x' % (pod_id, self.rng.getrandbits(32)))
        self.pods[pod_id] = rec
        return rec

    def _eligible(self, rec):
        pod = rec['pod']
        return '22/tcp' in pod['ports'] and bool(self._keys_of(pod))

    @staticmethod
    def _keys_of(pod):
        return [line for line in (pod['env'].get('PUBLIC_KEY') or '').splitlines() if line.strip()]

    def _advance(self, rec, observed):
        """Move a booting pod along its time line; ``observed`` counts a read in the trap."""
        if rec['phase'] != 'boot':
            return
        pod = rec['pod']
        elapsed = self.clock() - rec['phase_start']
        delay = max(self.boot_delay, 0.0)
        if elapsed < 0.2 * delay:
            pod['status'] = 'PROVISIONING'
        elif elapsed < 0.4 * delay:
            pod['status'] = 'STARTING'
        else:
            pod['status'] = 'RUNNING'
            if pod['startedAt'] is None:
                pod['startedAt'] = _now_rfc3339()
            if elapsed >= delay and rec['trap_seen'] >= self.trap_polls:
                self._come_up(rec)
                return
            if observed:
                rec['trap_seen'] += 1
        if pod['status'] != 'PROVISIONING' and pod['ssh']['proxy'] is None:
            pod['ssh']['proxy'] = {'host': 'ssh.runpod.io', 'port': 22, 'username': rec['proxy_user'],
                                   'command': 'ssh %s@ssh.runpod.io' % rec['proxy_user']}

    def _come_up(self, rec):
        """The container is up: runtime ports, and an SSH endpoint when the pod can have one."""
        pod = rec['pod']
        rec['phase'] = 'running'
        rec['up_since'] = self.clock()
        host = None
        if self._eligible(rec):
            endpoint = self.machines.boot('runpod', pod['id'], self._keys_of(pod), 'root', name=pod['name'])
            rec['endpoint'] = endpoint
            rec['booted'] = True
            host = endpoint['host']
            pod['ssh']['direct'] = {'host': host, 'port': int(endpoint['port']), 'username': endpoint['user'],
                                    'command': 'ssh %s@%s -p %d' % (endpoint['user'], host, int(endpoint['port']))}
        ports = []
        for spec in pod['ports']:
            number, _sep, kind = spec.partition('/')
            if spec == '22/tcp':
                if rec['endpoint']:
                    ports.append({'ip': host, 'private': 22, 'public': int(rec['endpoint']['port']), 'type': 'tcp'})
                continue
            if not number.isdigit():
                continue
            if kind == 'http':
                ports.append({'ip': '100.65.%d.%d' % (self.rng.randint(0, 255), self.rng.randint(1, 254)),
                              'private': int(number), 'public': self.rng.randint(60000, 65000), 'type': 'http'})
            else:
                ports.append({'ip': host or '203.0.113.250', 'private': int(number),
                              'public': self.rng.randint(30000, 40000), 'type': kind or 'tcp'})
        pod['runtime'] = {'uptime': 0, 'cpu': {'util': 0}, 'memory': {'util': 0},
                          'gpus': [{'util': 0, 'memoryUtil': 0} for _gpu in range(pod['gpu']['count'])],
                          'ports': ports}

    def _halt(self, rec, status):
        pod = rec['pod']
        if rec['endpoint'] is not None:
            self.machines.stop('runpod', pod['id'])
        rec['endpoint'] = None
        rec['phase'] = status.lower()
        pod['status'] = status
        pod['cost'] = 0.0
        pod['runtime'] = None
        pod['ssh']['direct'] = None

    def _boot(self, rec, skip_provisioning=True):
        pod = rec['pod']
        if rec['endpoint'] is not None:
            self.machines.stop('runpod', pod['id'])
        rec['endpoint'] = None
        rec['phase'] = 'boot'
        rec['phase_start'] = self.clock() - (0.2 * max(self.boot_delay, 0.0) if skip_provisioning else 0.0)
        rec['trap_seen'] = 0
        pod['cost'] = rec['list_price']
        pod['runtime'] = None
        pod['ssh']['direct'] = None
        pod['startedAt'] = None
        self._advance(rec, observed=False)

    def _view(self, rec):
        pod = rec['pod']
        view = dict(pod)
        view['actions'] = list(ALLOWED_ACTIONS.get(pod['status'], []))
        if pod['runtime'] is not None and rec.get('up_since') is not None:
            view['runtime'] = dict(pod['runtime'], uptime=int(self.clock() - rec['up_since']))
        return _deep_copy(view)

    def _observe(self, rec):
        self._advance(rec, observed=True)
        return self._view(rec)

    def _remove(self, pod_id):
        rec = self.pods.pop(pod_id)
        if rec['booted']:
            self.machines.destroy('runpod', pod_id)

    def _pod_or_404(self, pod_id):
        return self.pods.get(unquote(pod_id))

    def _json_body(self, req):
        try:
            return req.json(), None
        except ValueError:
            return None, self.error(400, 'request body is not valid JSON')

    # handlers
    def list_pods(self, req):
        return Response(200, {'pods': [self._observe(rec) for rec in list(self.pods.values())]})

    def get_pod(self, req, pod_id):
        rec = self._pod_or_404(pod_id)
        if rec is None:
            return self.error(404, NOT_FOUND_DETAIL)
        return Response(200, self._observe(rec))

    def create_pod(self, req):
        body, bad = self._json_body(req)
        if bad is not None:
            return bad
        errors = validate('create', body)
        if not errors and 'templateId' not in body and 'image' not in body:
            errors.append("$: missing property 'image'")
        if errors:
            return self.error(422, VALIDATION_DETAIL, errors=errors)
        if ('gpu' in body) == ('cpu' in body):
            return self.error(400, 'exactly one of gpu or cpu must be set')
        mounts = body.get('mounts') or {}
        if 'persistent' in mounts and 'network' in mounts:
            return self.error(400, 'mounts.persistent and mounts.network are mutually exclusive')
        if 'cpu' in body and 'persistent' in mounts:
            return self.error(400, 'mounts.persistent is not supported on CPU pods')
        gpu = body.get('gpu') or {}
        if gpu.get('allowedCudaVersions') and 'minCudaVersion' in gpu:
            return self.error(400, 'allowedCudaVersions and minCudaVersion are mutually exclusive')
        if 'templateId' in body:
            return self.error(404, NOT_FOUND_DETAIL)
        if 'cpu' in body:
            return self.error(400, BAD_REQUEST_DETAIL)
        if 'network' in mounts:
            return self.error(400, BAD_REQUEST_DETAIL)
        if self.insufficient_balance:
            return self.error(402, BALANCE_DETAIL)
        dc_id, problem = self._place(body)
        if problem is not None:
            return problem
        rec = self._new_pod(body, dc_id)
        return Response(201, self._view(rec))

    def update_pod(self, req, pod_id):
        rec = self._pod_or_404(pod_id)
        if rec is None:
            return self.error(404, NOT_FOUND_DETAIL)
        body, bad = self._json_body(req)
        if bad is not None:
            return bad
        errors = validate('update', body)
        if errors:
            return self.error(422, VALIDATION_DETAIL, errors=errors)
        if 'templateId' in body:
            return self.error(404, NOT_FOUND_DETAIL)
        pod = rec['pod']
        mounts = body.get('mounts')
        if mounts:
            kinds = set(mounts)
            if kinds - set(pod['mounts']) or mounts.get('network') == []:
                return self.error(400, BAD_REQUEST_DETAIL)
            pod['mounts'] = dict(pod['mounts'], **mounts)
        for key in ('name', 'image', 'args', 'disk', 'ports', 'registry', 'locked'):
            if key in body:
                pod[key] = body[key]
        if 'env' in body:
            keys = pod['env'].get('PUBLIC_KEY')
            pod['env'] = dict((k, v) for k, v in body['env'].items() if v != '')
            if keys and 'PUBLIC_KEY' not in pod['env']:
                pod['env']['PUBLIC_KEY'] = keys
        if 'globalNetworking' in body:
            pod['globalNetworking'] = {'enabled': body['globalNetworking']}
        return Response(200, self._observe(rec))

    def delete_pod(self, req, pod_id):
        rec = self._pod_or_404(pod_id)
        if rec is None:
            return self.error(404, NOT_FOUND_DETAIL)
        self._remove(rec['pod']['id'])
        return Response(204)

    def pod_action(self, req, pod_id):
        rec = self._pod_or_404(pod_id)
        if rec is None:
            return self.error(404, NOT_FOUND_DETAIL)
        body, bad = self._json_body(req)
        if bad is not None:
            return bad
        errors = validate('action', body)
        if errors:
            return self.error(422, VALIDATION_DETAIL, errors=errors)
        action = body['action']
        self._advance(rec, observed=False)
        pod = rec['pod']
        if action not in ALLOWED_ACTIONS.get(pod['status'], []):
            return self.error(409, CONFLICT_DETAIL)
        if action == 'terminate':
            self._remove(pod['id'])
            return Response(204)
        if action == 'stop':
            if pod['locked']:
                return self.error(409, CONFLICT_DETAIL)
            self._halt(rec, 'EXITED')
        else:  # start, restart: back through the readiness trap
            self._boot(rec)
        return Response(200, self._view(rec))

    # --- catalog -----------------------------------------------------------------------------
    def _catalog_query(self, req):
        """(options dict, None) or (None, error Response) for the GPU catalog query."""
        include = req.arg('include')
        only_with_include = ('product', 'count', 'cloud', 'countryCodes', 'cudaVersions', 'minCudaVersion')
        if include is None:
            given = [name for name in only_with_include if req.arg(name) is not None]
            if given:
                return None, self.error(400, '%s is only valid with include=AVAILABILITY' % given[0])
            return dict(include=False), None
        errors = []
        includes = [v for v in include.split(',') if v]
        if len(includes) != 1 or includes[0] != 'AVAILABILITY':
            errors.append("include: value must be one of 'AVAILABILITY'")
        products = [v for v in (req.arg('product') or '').split(',') if v]
        for product in products:
            if product not in ('POD', 'CLUSTER', 'SERVERLESS'):
                errors.append("product: value must be one of 'POD', 'CLUSTER', 'SERVERLESS'")
        count = req.arg('count', '1')
        if not re.match(r'^[0-9]+$', count) or int(count) < 1:
            errors.append('count: must be an integer >= 1')
        cloud = req.arg('cloud', 'SECURE')
        if cloud not in CLOUDS:
            errors.append("cloud: value must be one of 'SECURE', 'COMMUNITY'")
        countries = [v for v in (req.arg('countryCodes') or '').split(',') if v]
        for code in countries:
            if not re.match(r'^[A-Z]{2}$', code):
                errors.append("countryCodes: '%s' does not match pattern '^[A-Z]{2}$'" % code)
        cuda = [v for v in (req.arg('cudaVersions') or '').split(',') if v]
        for version in cuda:
            if not re.match(CUDA_PATTERN, version):
                errors.append("cudaVersions: '%s' does not match pattern '%s'" % (version, CUDA_PATTERN))
        min_cuda = req.arg('minCudaVersion')
        if min_cuda is not None and not re.match(r'^\d+(\.\d+)?$', min_cuda):
            errors.append("minCudaVersion: '%s' does not match pattern '^\\d+(\\.\\d+)?$'" % min_cuda)
        if errors:
            return None, self.error(422, VALIDATION_DETAIL, errors=errors)
        if not products:
            return None, self.error(400, 'product is required with include=AVAILABILITY')
        if cuda and min_cuda is not None:
            return None, self.error(400, 'cudaVersions and minCudaVersion are mutually exclusive')
        return dict(include=True, products=products, count=int(count), cloud=cloud, countries=countries,
                    cuda=cuda, min_cuda=min_cuda), None

    def _gpu_view(self, gpu, query):
        view = dict((k, v) for k, v in gpu.items() if not k.startswith('_'))
        view = _deep_copy(view)
        if not query['include']:
            return view
        cloud = query['cloud']
        countries = query['countries']
        offered = []
        for dc in self.data_centers:
            if countries and dc['country'] not in countries:
                continue
            if (gpu['id'], dc['id'], cloud) not in self.availability:
                continue
            level = self._level(gpu['id'], dc['id'], cloud, query['count']) or 'NONE'
            offered.append({'id': dc['id'], 'name': dc['name'], 'availability': level})
        best = max([LEVELS.index(dc['availability']) for dc in offered] + [0])
        view['availability'] = LEVELS[best]
        if best > 0:
            view['dataCenters'] = offered
        versions = gpu['_cuda']
        if query['cuda']:
            versions = [v for v in versions if v in query['cuda']]
        if query['min_cuda'] is not None:
            floor = _version_tuple(query['min_cuda'])
            versions = [v for v in versions if _version_tuple(v)[:len(floor)] >= floor]
        if versions:
            view['cudaVersions'] = [{'version': v, 'available': best > 0} for v in versions]
        view['_offered_in_countries'] = bool(offered) or not countries
        return view

    def list_gpus(self, req):
        query, bad = self._catalog_query(req)
        if bad is not None:
            return bad
        gpus = []
        for gpu in self.gpu_types:
            view = self._gpu_view(gpu, query)
            if not view.pop('_offered_in_countries', True):
                continue
            gpus.append(view)
        return Response(200, {'gpus': gpus})

    def get_gpu(self, req, gpu_id):
        gpu = self._gpu_type(unquote(gpu_id))
        if gpu is None:
            return self.error(404, NOT_FOUND_DETAIL)
        query, bad = self._catalog_query(req)
        if bad is not None:
            return bad
        view = self._gpu_view(gpu, query)
        view.pop('_offered_in_countries', None)
        return Response(200, view)

    def list_data_centers(self, req):
        includes = [v for v in (req.arg('include') or '').split(',') if v]
        bad = [v for v in includes if v not in ('GPU_AVAILABILITY', 'CPU_AVAILABILITY')]
        if bad:
            return self.error(422, VALIDATION_DETAIL,
                              errors=["include: value must be one of 'GPU_AVAILABILITY', 'CPU_AVAILABILITY'"])
        regions = [v for v in (req.arg('regions') or '').split(',') if v]
        result = []
        for dc in self.data_centers:
            if regions and dc['region'] not in regions:
                continue
            view = dict((k, v) for k, v in dc.items() if k != 'country')
            if 'GPU_AVAILABILITY' in includes:
                gpus = []
                for gpu in self.gpu_types:
                    levels = [self._level(gpu['id'], dc['id'], cloud, 1) for cloud in CLOUDS]
                    levels = [LEVELS.index(level) for level in levels if level is not None]
                    if levels:
                        gpus.append({'id': gpu['id'], 'name': gpu['name'], 'availability': LEVELS[max(levels)]})
                if gpus:
                    view['gpuAvailability'] = gpus
            result.append(_deep_copy(view))
        return Response(200, {'dataCenters': result})

    # --- account SSH keys --------------------------------------------------------------------
    def get_ssh_keys(self, req):
        return Response(200, {'keys': list(self.ssh_keys)})

    def put_ssh_keys(self, req):
        body, bad = self._json_body(req)
        if bad is not None:
            return bad
        errors = validate('ssh_keys', body)
        if errors:
            return self.error(422, VALIDATION_DETAIL, errors=errors)
        self.ssh_keys = list(body['keys'])
        return Response(200, {'keys': list(self.ssh_keys)})


def _version_tuple(text):
    return tuple(int(part) for part in text.split('.'))


def _deep_copy(value):
    if isinstance(value, dict):
        return dict((k, _deep_copy(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
