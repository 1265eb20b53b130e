# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A strict fake of the Lambda Cloud API v1 (shared/reference/provider-apis.md §2).

What it implements, under ``/api/v1`` exactly as in the Lambda Cloud OpenAPI 1.10.0 spec:

- Auth: ``Authorization: Bearer <key>``, HTTP Basic ``base64("<key>:")`` and ``Basic <key>``.
  Anything else is 401 ``global/invalid-api-key`` with the spec's default message and suggestion.
- Envelopes: every success is ``{"data": ...}``, every error ``{"error": {code, message,
  suggestion}}``.
- ``GET /instances`` (``?cluster_id=`` accepted; no instance here belongs to a cluster),
  ``GET /instances/{id}``, ``POST /instances/{id}`` (rename), ``POST /instance-operations/launch``,
  ``POST /instance-operations/restart``, ``POST /instance-operations/terminate``,
  ``GET /instance-types``, ``GET /regions``, ``GET /images``, ``GET /file-systems``,
  ``GET /ssh-keys``, ``POST /ssh-keys``, ``DELETE /ssh-keys/{id}``.
- Instance status machine (§2.8): launch -> 32-hex id, ``booting`` without ``ip``; after
  ``boot_delay`` seconds -> ``active`` with ``ip``, ``private_ip``, ``hostname`` (the requested
  hostname, else the IP) and Jupyter fields; terminate -> ``terminating``; after
  ``terminate_delay`` -> ``terminated`` (no longer listed, still readable by id); after
  ``gone_delay`` -> removed (404 ``global/object-does-not-exist`` "Specified instance does not
  exist."). Restart answers ``restarted_instances`` with the instance ``active``; restarting an
  instance that is not active is 409 ``global/conflict``. Terminating an unknown id is 404.
  ``preempt(id)`` and ``set_status(id, status)`` let tests drive the other statuses.
- Machines: when an instance becomes ``active`` the fake calls
  ``machines.boot('lambda', id, [public key of the named SSH key], 'ubuntu')`` and uses the
  returned host as ``ip``; ``machines.destroy`` when it becomes ``terminated``.
  LIMITATION: the Lambda API has no SSH port field (port 22 is implied). When the machines
  backend returns another port it cannot appear in the instance object without inventing a
  field the real API does not have; it is kept in the fake's state instead: ``state()`` (and
  ``GET /_fake/state``) lists each instance with ``ssh: {host, port, user}``, and
  ``ssh_endpoint(id)`` returns it.
- LaunchRequest validation (400 ``global/invalid-parameters``): a JSON object, no unknown fields
  (the spec lists ``quantity`` no more, but older specs and clients send it, so it is accepted:
  an integer 1..10 launching that many instances), required ``region_name``,
  ``instance_type_name``, ``ssh_key_names`` (exactly one), types of every field, ``name`` <= 64
  characters, ``hostname`` ``^[a-z0-9][0-9a-z-]{0,62}$``, tag keys ``^[a-z][a-z0-9-:]+$`` (<= 55)
  and values <= 128, ``image`` exactly one of ``{"id"}`` / ``{"family"}``, mount points
  ``^(/home|/lambda/nfs|/data)[//a-zA-Z0-9-]*$``.
- Launch outcomes: unknown instance type, region, SSH key, file system or image -> 404
  ``global/object-does-not-exist`` (the code is the spec's; whether real Lambda answers 400 or
  404, and with which message, is not documented); a file system in another region -> 400
  ``instance-operations/launch/file-system-in-wrong-region``; more live instances than
  ``quota`` -> 400 ``global/quota-exceeded``; a region without capacity for the type, or one a
  test marked with ``add_shortage()`` (listed but sold out at launch time) -> 400
  ``instance-operations/launch/insufficient-capacity`` with the recorded message and suggestion.
- ``GET /instance-types`` lists ``regions_with_capacity_available`` from ``capacity``
  (``{instance type: [region names]}``), which tests change with ``set_capacity()``. The seeded
  catalog's prices and specs are illustrative.
- SSH keys: add with ``public_key`` (validated: an OpenSSH public key line) or without it (a key
  pair is generated and ``private_key`` returned once, as the real API does); a second key with
  the same name is 400 ``global/invalid-parameters`` (unverified: the spec documents no
  duplicate-name error for this path); deleting an unknown id is 404 ``global/not-found``.
- Rate limits (§2.7): 1 request per second for every request, plus 1 per 12 seconds for
  launch; a request arriving sooner after the last accepted one in a bucket is answered 429
  (not counted). The 429 body is not documented: this one uses the usual envelope with the
  code ``global/rate-limited`` (a guess) and no ``Retry-After``. ``rate_limits`` sets the
  intervals (``{}`` turns limiting off); ``rate_limit_slack`` (default 0.05 s) allows for the
  network jitter between a client's send time and our receive time.

Test seeding, separate from the API behaviour: ``seed_instance(name, ...)`` inserts an active or
booting instance without HTTP (many instances for inventory tests and benchmarks).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import time
import uuid

from tests.fakes.base import FakeApi, Response

API = '/api/v1'

DEFAULT_RATE_LIMITS = {'default': 1.0, 'launch': 12.0}

REGIONS = [
    ('us-east-1', 'Virginia, USA'),
    ('us-west-1', 'California, USA'),
    ('us-south-1', 'Texas, USA'),
    ('us-midwest-1', 'Illinois, USA'),
    ('europe-central-1', 'Germany'),
    ('asia-northeast-1', 'Tokyo, Japan'),
]

# name -> (description, gpu_description, price_cents_per_hour, vcpus, memory_gib, storage_gib, gpus)
# Illustrative prices and specs in the shape of the spec's InstanceType.
INSTANCE_TYPES = {
    'gpu_1x_a10': ('1x A10 (24 GB PCIe)', 'A10 (24 GB PCIe)', 75, 30, 200, 1400, 1),
    'gpu_1x_a100_sxm4': ('1x A100 (40 GB SXM4)', 'A100 (40 GB SXM4)', 129, 30, 200, 512, 1),
    'gpu_8x_a100_80gb_sxm4': ('8x A100 (80 GB SXM4)', 'A100 (80 GB SXM4)', 1432, 240, 1800, 19500, 8),
    'gpu_1x_h100_pcie': ('1x H100 (80 GB PCIe)', 'H100 (80 GB PCIe)', 249, 26, 200, 1000, 1),
    'gpu_1x_h100_sxm5': ('1x H100 (80 GB SXM5)', 'H100 (80 GB SXM5)', 329, 26, 225, 2750, 1),
    'gpu_8x_h100_sxm5': ('8x H100 (80 GB SXM5)', 'H100 (80 GB SXM5)', 2392, 208, 1800, 24780, 8),
}

DEFAULT_CAPACITY = {
    'gpu_1x_a10': ['us-east-1', 'us-west-1'],
    'gpu_1x_a100_sxm4': ['us-east-1'],
    'gpu_8x_a100_80gb_sxm4': [],
    'gpu_1x_h100_pcie': ['us-west-1'],
    'gpu_1x_h100_sxm5': ['us-south-1'],
    'gpu_8x_h100_sxm5': ['us-west-1', 'us-south-1'],
}

IMAGE_FAMILIES = [
    ('lambda-stack-22-04', 'Lambda Stack 22.04', '22.04'),
    ('lambda-stack-24-04', 'Lambda Stack 24.04', '24.04'),
    ('ubuntu-lts', 'Ubuntu LTS', '24.04.01'),
]

LAUNCH_FIELDS = frozenset(('region_name', 'instance_type_name', 'ssh_key_names', 'file_system_names',
                           'file_system_mounts', 'hostname', 'name', 'image', 'user_data', 'tags',
                           'firewall_rulesets', 'quantity'))
LAUNCH_REQUIRED = ('region_name', 'instance_type_name', 'ssh_key_names')
HOSTNAME_RE = re.compile(r'^[a-z0-9][0-9a-z-]{0,62}$')
TAG_KEY_RE = re.compile(r'^[a-z][a-z0-9-:]+$')
MOUNT_POINT_RE = re.compile(r'^(/home|/lambda/nfs|/data)[//a-zA-Z0-9-]*$')
MAX_QUANTITY = 10
LIVE = ('booting', 'active', 'unhealthy')
STATUSES = ('booting', 'active', 'unhealthy', 'terminated', 'terminating', 'preempted')

UNAUTHORIZED = dict(code='global/invalid-api-key', message='API key was invalid, expired, or deleted.',
                    suggestion='Check your API key or create a new one, then try again.')
INSUFFICIENT_CAPACITY = dict(code='instance-operations/launch/insufficient-capacity',
                             message='Not enough capacity to fulfill launch request.',
                             suggestion='Choose an instance type with more availability, or try again later.')
QUOTA_EXCEEDED = dict(code='global/quota-exceeded', message='Quota exceeded.',
                      suggestion='Contact Support to increase your quota.')
DEFAULT_CODES = {
    400: ('global/invalid-parameters', 'Invalid request data.'),
    401: (UNAUTHORIZED['code'], UNAUTHORIZED['message']),
    403: ('global/forbidden', 'Forbidden.'),
    404: ('global/not-found', 'The requested resource was not found.'),
    405: ('global/invalid-parameters', 'Method not allowed.'),
    409: ('global/conflict', 'The request conflicts with the current state of the resource.'),
    429: ('global/rate-limited', 'Too many requests.'),
    500: ('global/internal-error', 'An internal server error occurred.'),
}

_PUBLIC_KEY_TYPES = ('ssh-ed25519', 'ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384',
                     'ecdsa-sha2-nistp521', 'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com')


def new_id():
    """A Lambda-style id: 32 lowercase hex digits."""
    return uuid.uuid4().hex


def example_public_key(comment='test@example', seed=None):
    """A well-formed ``ssh-ed25519`` public key line (random unless ``seed`` bytes are given)."""
    material = (seed or uuid.uuid4().bytes + uuid.uuid4().bytes)[:32].ljust(32, b'\0')
    blob = struct.pack('>I', 11) + b'ssh-ed25519' + struct.pack('>I', 32) + material
    return ('ssh-ed25519 %s %s' % (base64.b64encode(blob).decode('ascii'), comment)).strip()


def _public_key_ok(text):
    fields = text.strip().split()
    if len(fields) < 2 or fields[0] not in _PUBLIC_KEY_TYPES or '\n' in text.strip():
        return False
    try:
        raw = base64.b64decode(fields[1], validate=True)
        (length,) = struct.unpack('>I', raw[:4])
        return raw[4:4 + length].decode('ascii') == fields[0]
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        return False


def _generate_key_pair():
    """A new ed25519 key pair as (public line, private PEM) for server-generated keys."""
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric import ed25519  # pylint: disable=import-outside-toplevel
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode('ascii')
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode('ascii')
    return public, private


class InvalidParameters(Exception):
    pass


class FakeLambda(FakeApi):
    """The Lambda Cloud API v1 on 127.0.0.1 (see the module docstring for what it implements)."""

    provider = 'lambda'

    def __init__(self, api_key='test-key', boot_delay=0.5, machines=None, clock=time.monotonic,
                 terminate_delay=None, gone_delay=None, rate_limits=None, rate_limit_slack=0.05,
                 capacity=None, quota=None, regions=None, instance_types=None):
        super(FakeLambda, self).__init__(api_key=api_key, boot_delay=boot_delay, machines=machines, clock=clock)
        self.terminate_delay = boot_delay / 2.0 if terminate_delay is None else terminate_delay
        self.gone_delay = boot_delay / 2.0 if gone_delay is None else gone_delay
        self.rate_limits = dict(DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits)
        self.rate_limit_slack = rate_limit_slack
        self.regions = list(REGIONS if regions is None else regions)
        self.instance_types = dict(INSTANCE_TYPES if instance_types is None else instance_types)
        source = DEFAULT_CAPACITY if capacity is None else capacity
        self.capacity = dict((name, list(source.get(name, []))) for name in self.instance_types)
        self.shortages = set()
        self.quota = quota
        self.instances = {}       # id -> record (launch order kept by dict order)
        self.ssh_keys = []        # [{'id', 'name', 'public_key'}]
        self.file_systems = []    # spec Filesystem objects
        self.images = self._seed_images()
        self._last_accepted = {}  # rate-limit bucket -> monotonic time of the last accepted request
        self._ip_count = 0

    # --- seeding and test controls ---------------------------------------------------------
    def _seed_images(self):
        images = []
        for family, description, version in IMAGE_FAMILIES:
            for region, region_description in self.regions:
                images.append(dict(id=str(uuid.uuid4()), created_time='2026-01-15T00:00:00+00:00',
                                   updated_time='2026-06-01T00:00:00+00:00', name='%s-%s' % (family, version),
                                   description=description, family=family, version=version, architecture='x86_64',
                                   region=dict(name=region, description=region_description)))
        return images

    def add_ssh_key(self, name, public_key=None):
        """Seed an SSH key (as POST /ssh-keys would); returns the stored key."""
        with self.lock:
            key = dict(id=new_id(), name=name, public_key=(public_key or example_public_key(name)).strip())
            self.ssh_keys.append(key)
            return dict(key)

    def add_file_system(self, name, region='us-west-1'):
        with self.lock:
            fs = dict(id=new_id(), name=name, mount_point='/lambda/nfs/%s' % name, created='2026-06-01T00:00:00+00:00',
                      created_by=dict(id=new_id(), email='me@example.com', status='active'), is_in_use=False,
                      region=self._region(region), bytes_used=0)
            self.file_systems.append(fs)
            return dict(fs)

    def set_capacity(self, instance_type, regions):
        """What GET /instance-types lists as regions with capacity for ``instance_type``."""
        with self.lock:
            self.capacity[instance_type] = list(regions)

    def add_shortage(self, region, instance_type=None):
        """Launches in ``region`` (of ``instance_type``, or of any type) fail with
        insufficient-capacity even though GET /instance-types lists capacity there."""
        with self.lock:
            self.shortages.add((region, instance_type))

    def set_status(self, instance_id, status):
        with self.lock:
            record = self.instances[instance_id]
            record['status'] = status
            record['since'] = self.clock()

    def preempt(self, instance_id):
        with self.lock:
            self.set_status(instance_id, 'preempted')
            self.machines.destroy('lambda', instance_id)

    def ssh_endpoint(self, instance_id):
        """Where the machine behind an active instance really answers SSH (host, port, user)."""
        with self.lock:
            self._advance()
            record = self.instances.get(instance_id)
            return dict(record['endpoint']) if record and record.get('endpoint') else None

    # --- test seeding (no HTTP, nothing in the call log, no rate limit) ------------------------
    def seed_instance(self, name, instance_type='gpu_1x_h100_sxm5', region='us-south-1', status='active',
                      ssh_key_name='seeded-key', tags=None):
        """Insert an instance directly into the fake's state, as a launch would make it, and
        return its id. For tests and benchmarks that need many instances without many
        rate-limited launches (capacity and quota are not checked).

        ``status``: ``active`` (booted at once: the machines backend gives its ``ip``) or
        ``booting`` (it becomes active ``boot_delay`` seconds later, as a launched one does).
        The SSH key ``ssh_key_name`` is added to the account first when it is not there.
        """
        assert status in ('active', 'booting'), status
        assert instance_type in self.instance_types, instance_type
        with self.lock:
            keys = dict((k['name'], k) for k in self.ssh_keys)
            key = keys.get(ssh_key_name) or self.add_ssh_key(ssh_key_name)
            region_obj = self._region(region)
            assert region_obj is not None, region
            instance_id = new_id()
            now = self.clock()
            record = dict(
                id=instance_id, name=name, status='booting', since=now, region=region_obj, type=instance_type,
                ssh_key_names=[ssh_key_name], public_keys=[key['public_key']], file_system_names=[],
                file_system_mounts=[], tags=[dict(t) for t in tags or []], image=None, requested_hostname=None,
                firewall_rulesets=[], user_data=None)
            self.instances[instance_id] = record
            if status == 'active':
                self._activate(record, now)
            return instance_id

    def live_instances(self, name=None):
        with self.lock:
            self._advance()
            return [self._view(r) for r in self.instances.values()
                    if r['status'] in LIVE and (name is None or r.get('name') == name)]

    # --- FakeApi hooks ------------------------------------------------------------------------
    def routes(self):
        hex_id = r'(?P<instance_id>[^/]+)'
        return [
            ('GET', API + '/instances', self.list_instances),
            ('GET', API + '/instances/' + hex_id, self.get_instance),
            ('POST', API + '/instances/' + hex_id, self.rename_instance),
            ('POST', API + '/instance-operations/launch', self.launch),
            ('POST', API + '/instance-operations/restart', self.restart),
            ('POST', API + '/instance-operations/terminate', self.terminate),
            ('GET', API + '/instance-types', self.list_instance_types),
            ('GET', API + '/regions', self.list_regions),
            ('GET', API + '/images', self.list_images),
            ('GET', API + '/file-systems', self.list_file_systems),
            ('GET', API + '/ssh-keys', self.list_ssh_keys),
            ('POST', API + '/ssh-keys', self.create_ssh_key),
            ('DELETE', API + '/ssh-keys/(?P<key_id>[^/]+)', self.delete_ssh_key),
        ]

    def authenticate(self, req):
        header = req.headers.get('authorization') or ''
        scheme, _sep, value = header.partition(' ')
        value = value.strip()
        if scheme.lower() == 'bearer' and value == self.api_key:
            return None
        if scheme.lower() == 'basic' and value:
            if value == self.api_key:
                return None
            try:
                decoded = base64.b64decode(value, validate=True).decode('utf-8')
            except (binascii.Error, UnicodeDecodeError, ValueError):
                decoded = None
            if decoded is not None and decoded.partition(':')[0] == self.api_key and decoded.endswith(':'):
                return None
        return self._envelope(401, **UNAUTHORIZED)

    def error(self, status, message, code=None, suggestion=None, headers=None, **extra):
        default_code, _default_message = DEFAULT_CODES.get(status, ('global/internal-error', ''))
        return self._envelope(status, code=code or default_code, message=message, suggestion=suggestion, headers=headers)

    def rate_limit(self, req):
        if not req.path.startswith(API + '/') or not self.rate_limits:
            return None
        buckets = ['default']
        if req.method == 'POST' and req.path == API + '/instance-operations/launch':
            buckets.append('launch')
        with self.lock:
            now = self.clock()
            for bucket in buckets:
                interval = self.rate_limits.get(bucket)
                last = self._last_accepted.get(bucket)
                if interval and last is not None and now - last < interval - self.rate_limit_slack:
                    return self.error(429, 'Too many requests.',
                                      suggestion='Requests are limited to one per second, and launches to one per 12 seconds.')
            for bucket in buckets:
                if self.rate_limits.get(bucket):
                    self._last_accepted[bucket] = now
        return None

    def state(self):
        with self.lock:
            self._advance()
            instances = []
            for record in self.instances.values():
                view = self._view(record)
                view['ssh'] = dict(record['endpoint']) if record.get('endpoint') else None
                instances.append(view)
            return dict(instances=instances, ssh_keys=[dict(k) for k in self.ssh_keys],
                        file_systems=[dict(f) for f in self.file_systems],
                        capacity=dict((k, list(v)) for k, v in self.capacity.items()),
                        shortages=sorted([list(s) for s in self.shortages], key=str),
                        quota=self.quota, rate_limits=dict(self.rate_limits))

    # --- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _envelope(status, code, message, suggestion=None, headers=None):
        error = dict(code=code, message=message)
        if suggestion:
            error['suggestion'] = suggestion
        return Response(status, dict(error=error), headers=headers)

    @staticmethod
    def ok(data):
        return Response(200, dict(data=data))

    def invalid(self, message, suggestion=None):
        return self._envelope(400, 'global/invalid-parameters', message, suggestion)

    def _region(self, name):
        for region, description in self.regions:
            if region == name:
                return dict(name=region, description=description)
        return None

    def _instance_type(self, name):
        spec = self.instance_types[name]
        description, gpu_description, cents, vcpus, memory, storage, gpus = spec
        return dict(name=name, description=description, gpu_description=gpu_description, price_cents_per_hour=cents,
                    specs=dict(vcpus=vcpus, memory_gib=memory, storage_gib=storage, gpus=gpus))

    def _advance(self):
        """Move every instance along its status machine according to the clock."""
        now = self.clock()
        for instance_id in list(self.instances):
            record = self.instances[instance_id]
            if record['status'] == 'booting' and now - record['since'] >= self.boot_delay:
                self._activate(record, now)
            if record['status'] == 'terminating' and now - record['since'] >= self.terminate_delay:
                record['status'] = 'terminated'
                record['since'] = record['since'] + self.terminate_delay
                self.machines.destroy('lambda', instance_id)
            if record['status'] in ('terminated', 'preempted') and now - record['since'] >= self.gone_delay:
                del self.instances[instance_id]

    def _activate(self, record, now):
        endpoint = self.machines.boot('lambda', record['id'], list(record['public_keys']), 'ubuntu',
                                      name=record.get('name'))
        self._ip_count += 1
        record.update(status='active', since=now, endpoint=dict(endpoint), ip=endpoint['host'],
                      private_ip='10.0.%d.%d' % (self._ip_count // 250, 2 + self._ip_count % 250),
                      jupyter_token=new_id())
        record['hostname'] = record.get('requested_hostname') or endpoint['host']

    def _actions(self, status):
        def blocked(code, text):
            return dict(available=False, reason_code=code, reason_description=text)
        if status == 'active':
            return dict((a, dict(available=True)) for a in ('migrate', 'rebuild', 'restart', 'cold_reboot', 'terminate'))
        if status in ('booting', 'unhealthy'):
            not_yet = blocked('vm-has-not-launched', 'The instance has not finished launching.')
            return dict(migrate=not_yet, rebuild=not_yet, restart=not_yet, cold_reboot=not_yet,
                        terminate=dict(available=True))
        gone = blocked('vm-is-terminating', 'The instance is terminating.')
        return dict(migrate=gone, rebuild=gone, restart=gone, cold_reboot=gone, terminate=gone)

    def _view(self, record):
        """The instance as the API shows it (components.schemas.Instance)."""
        view = dict(id=record['id'], status=record['status'], ssh_key_names=list(record['ssh_key_names']),
                    file_system_names=list(record['file_system_names']), region=dict(record['region']),
                    instance_type=self._instance_type(record['type']), actions=self._actions(record['status']),
                    tags=[dict(t) for t in record['tags']])
        if record.get('name') is not None:
            view['name'] = record['name']
        if record.get('file_system_mounts'):
            view['file_system_mounts'] = [dict(m) for m in record['file_system_mounts']]
        if record.get('firewall_rulesets'):
            view['firewall_rulesets'] = [dict(r) for r in record['firewall_rulesets']]
        if record.get('ip') and record['status'] != 'booting':
            view.update(ip=record['ip'], private_ip=record['private_ip'], hostname=record['hostname'])
            if record['status'] in ('active', 'unhealthy'):
                token = record['jupyter_token']
                view['jupyter_token'] = token
                view['jupyter_url'] = 'https://jupyter-%s.lambdaspaces.com/?token=%s' % (record['id'], token)
        return view

    def _json_object(self, req):
        try:
            body = req.json()
        except ValueError:
            raise InvalidParameters('Invalid request data: the body is not valid JSON.')
        if not isinstance(body, dict):
            raise InvalidParameters('Invalid request data: the body must be a JSON object.')
        return body

    def _instance_ids(self, req):
        body = self._json_object(req)
        unknown = sorted(set(body) - set(['instance_ids']))
        if unknown:
            raise InvalidParameters('Invalid request data: unknown field(s) %s.' % ', '.join(unknown))
        ids = body.get('instance_ids')
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise InvalidParameters('Invalid request data: instance_ids must be a non-empty list of strings.')
        return ids

    def _not_found_instance(self):
        return self._envelope(404, 'global/object-does-not-exist', 'Specified instance does not exist.')

    # --- instances ---------------------------------------------------------------------------
    def list_instances(self, req):
        self._advance()
        if req.arg('cluster_id'):
            return self.ok([])
        return self.ok([self._view(r) for r in self.instances.values() if r['status'] not in ('terminated', 'preempted')])

    def get_instance(self, req, instance_id):
        self._advance()
        record = self.instances.get(instance_id)
        if record is None:
            return self._not_found_instance()
        return self.ok(self._view(record))

    def rename_instance(self, req, instance_id):
        self._advance()
        try:
            body = self._json_object(req)
        except InvalidParameters as exc:
            return self.invalid(str(exc))
        unknown = sorted(set(body) - set(['name']))
        if unknown:
            return self.invalid('Invalid request data: unknown field(s) %s.' % ', '.join(unknown))
        name = body.get('name')
        if not isinstance(name, str) or len(name) > 64:
            return self.invalid('Invalid request data: name must be a string of 64 characters or fewer.')
        record = self.instances.get(instance_id)
        if record is None:
            return self._not_found_instance()
        record['name'] = name
        return self.ok(self._view(record))

    def _validate_launch(self, body):
        unknown = sorted(set(body) - LAUNCH_FIELDS)
        if unknown:
            raise InvalidParameters('Invalid request data: unknown field(s) %s.' % ', '.join(unknown))
        missing = [f for f in LAUNCH_REQUIRED if f not in body]
        if missing:
            raise InvalidParameters('Invalid request data: missing required field(s) %s.' % ', '.join(missing))
        for field in ('region_name', 'instance_type_name', 'hostname', 'name', 'user_data'):
            if field in body and not isinstance(body[field], str):
                raise InvalidParameters('Invalid request data: %s must be a string.' % field)
        for field in ('ssh_key_names', 'file_system_names'):
            if field in body and (not isinstance(body[field], list) or not all(isinstance(v, str) for v in body[field])):
                raise InvalidParameters('Invalid request data: %s must be a list of strings.' % field)
        if len(body['ssh_key_names']) != 1:
            raise InvalidParameters('Invalid request data: exactly one SSH key must be specified in ssh_key_names.')
        if 'name' in body and len(body['name']) > 64:
            raise InvalidParameters('Invalid request data: name must be 64 characters or fewer.')
        if 'hostname' in body and not HOSTNAME_RE.match(body['hostname']):
            raise InvalidParameters('Invalid request data: hostname must match ^[a-z0-9][0-9a-z-]{0,62}$.')
        if 'quantity' in body and (not isinstance(body['quantity'], int) or isinstance(body['quantity'], bool)
                                   or not 1 <= body['quantity'] <= MAX_QUANTITY):
            raise InvalidParameters('Invalid request data: quantity must be an integer from 1 to %d.' % MAX_QUANTITY)
        self._validate_objects(body)

    def _validate_objects(self, body):
        tags = body.get('tags', [])
        if not isinstance(tags, list):
            raise InvalidParameters('Invalid request data: tags must be a list of {key, value} objects.')
        for tag in tags:
            if not isinstance(tag, dict) or set(tag) != set(['key', 'value']) or not all(isinstance(v, str) for v in tag.values()):
                raise InvalidParameters('Invalid request data: each tag must be an object with string key and value.')
            if len(tag['key']) > 55 or not TAG_KEY_RE.match(tag['key']):
                raise InvalidParameters('Invalid request data: tag key %r must match ^[a-z][a-z0-9-:]+$ '
                                        '(55 characters at most).' % tag['key'][:80])
            if len(tag['value']) > 128:
                raise InvalidParameters('Invalid request data: tag value for %r is longer than 128 characters.' % tag['key'])
        if 'image' in body:
            image = body['image']
            if (not isinstance(image, dict) or len(image) != 1 or set(image) - set(['id', 'family'])
                    or not isinstance(list(image.values())[0], str)):
                raise InvalidParameters('Invalid request data: image must be {"id": "..."} or {"family": "..."}.')
        mounts = body.get('file_system_mounts', [])
        if not isinstance(mounts, list):
            raise InvalidParameters('Invalid request data: file_system_mounts must be a list.')
        for mount in mounts:
            if (not isinstance(mount, dict) or set(mount) != set(['mount_point', 'file_system_id'])
                    or not all(isinstance(v, str) for v in mount.values())):
                raise InvalidParameters('Invalid request data: each mount needs mount_point and file_system_id.')
            if len(mount['mount_point']) > 256 or not MOUNT_POINT_RE.match(mount['mount_point']):
                raise InvalidParameters('Invalid request data: mount_point must start with /home, /lambda/nfs or /data.')
        rulesets = body.get('firewall_rulesets', [])
        if not isinstance(rulesets, list) or not all(isinstance(r, dict) and set(r) == set(['id']) for r in rulesets):
            raise InvalidParameters('Invalid request data: firewall_rulesets must be a list of {"id": "..."}.')

    def _launch_resource_missing(self, what, name, suggestion):
        return self._envelope(404, 'global/object-does-not-exist', '%s %r does not exist.' % (what, name), suggestion)

    def launch(self, req):
        self._advance()
        try:
            body = self._json_object(req)
            self._validate_launch(body)
        except InvalidParameters as exc:
            return self.invalid(str(exc), 'Check the request body against the launch request schema.')
        type_name, region_name = body['instance_type_name'], body['region_name']
        if type_name not in self.instance_types:
            return self._launch_resource_missing('Instance type', type_name, 'List instance types with GET /instance-types.')
        region = self._region(region_name)
        if region is None:
            return self._launch_resource_missing('Region', region_name, 'List regions with GET /regions.')
        keys = dict((k['name'], k) for k in self.ssh_keys)
        for key_name in body['ssh_key_names']:
            if key_name not in keys:
                return self._launch_resource_missing('SSH key', key_name, 'Add the key with POST /ssh-keys first.')
        file_systems = dict((f['name'], f) for f in self.file_systems)
        mounts = []
        for fs_name in body.get('file_system_names', []):
            if fs_name not in file_systems:
                return self._launch_resource_missing('File system', fs_name, 'List file systems with GET /file-systems.')
            fs = file_systems[fs_name]
            if fs['region']['name'] != region_name:
                return self._envelope(400, 'instance-operations/launch/file-system-in-wrong-region',
                                      'File system %r is in %s, not in %s.' % (fs_name, fs['region']['name'], region_name),
                                      'Launch in the file system\'s region, or use a file system in %s.' % region_name)
            mounts.append(dict(mount_point=fs['mount_point'], file_system_id=fs['id']))
        if 'image' in body:
            image = body['image']
            field, value = list(image.items())[0]
            if not any(i[field] == value and i['region']['name'] == region_name for i in self.images):
                return self._launch_resource_missing('Image', value, 'List images with GET /images.')
        quantity = body.get('quantity', 1)
        live = len([r for r in self.instances.values() if r['status'] in LIVE])
        if self.quota is not None and live + quantity > self.quota:
            return self._envelope(400, **QUOTA_EXCEEDED)
        if (region_name not in self.capacity.get(type_name, []) or (region_name, None) in self.shortages
                or (region_name, type_name) in self.shortages):
            return self._envelope(400, **INSUFFICIENT_CAPACITY)
        ids = []
        for _count in range(quantity):
            instance_id = new_id()
            self.instances[instance_id] = dict(
                id=instance_id, name=body.get('name'), status='booting', since=self.clock(), region=region,
                type=type_name, ssh_key_names=list(body['ssh_key_names']),
                public_keys=[keys[k]['public_key'] for k in body['ssh_key_names']],
                file_system_names=list(body.get('file_system_names', [])), file_system_mounts=mounts,
                tags=[dict(t) for t in body.get('tags', [])], image=body.get('image'),
                requested_hostname=body.get('hostname'), firewall_rulesets=body.get('firewall_rulesets', []),
                user_data=body.get('user_data'))
            for fs_name in body.get('file_system_names', []):
                file_systems[fs_name]['is_in_use'] = True
            ids.append(instance_id)
        return self.ok(dict(instance_ids=ids))

    def restart(self, req):
        self._advance()
        try:
            ids = self._instance_ids(req)
        except InvalidParameters as exc:
            return self.invalid(str(exc))
        records = [self.instances.get(i) for i in ids]
        if any(r is None for r in records):
            return self._not_found_instance()
        for record in records:
            if record['status'] != 'active':
                return self._envelope(409, 'global/conflict',
                                      'The request conflicts with the current state of the resource.',
                                      'Instance %s is %s; only active instances can be restarted.' % (record['id'], record['status']))
        return self.ok(dict(restarted_instances=[self._view(r) for r in records]))

    def terminate(self, req):
        self._advance()
        try:
            ids = self._instance_ids(req)
        except InvalidParameters as exc:
            return self.invalid(str(exc))
        records = [self.instances.get(i) for i in ids]
        if any(r is None for r in records):
            return self._not_found_instance()
        now = self.clock()
        for record in records:
            if record['status'] in LIVE:
                record['status'] = 'terminating'
                record['since'] = now
        return self.ok(dict(terminated_instances=[self._view(r) for r in records]))

    # --- catalog -----------------------------------------------------------------------------
    def list_instance_types(self, req):
        data = {}
        for name in self.instance_types:
            regions = [self._region(r) for r in self.capacity.get(name, [])]
            data[name] = dict(instance_type=self._instance_type(name),
                              regions_with_capacity_available=[r for r in regions if r])
        return self.ok(data)

    def list_regions(self, req):
        return self.ok([dict(name=n, description=d) for n, d in self.regions])

    def list_images(self, req):
        return self.ok([dict(i, region=dict(i['region'])) for i in self.images])

    def list_file_systems(self, req):
        return self.ok([dict(f) for f in self.file_systems])

    # --- SSH keys ----------------------------------------------------------------------------
    def list_ssh_keys(self, req):
        return self.ok([dict(k) for k in self.ssh_keys])

    def create_ssh_key(self, req):
        try:
            body = self._json_object(req)
        except InvalidParameters as exc:
            return self.invalid(str(exc))
        unknown = sorted(set(body) - set(['name', 'public_key']))
        if unknown:
            return self.invalid('Invalid request data: unknown field(s) %s.' % ', '.join(unknown))
        name = body.get('name')
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            return self.invalid('Invalid request data: name is required and must be 1 to 64 characters.')
        public_key = body.get('public_key')
        if public_key is not None and (not isinstance(public_key, str) or not 1 <= len(public_key) <= 4096
                                       or not _public_key_ok(public_key)):
            return self.invalid('Invalid request data: public_key is not a valid SSH public key.',
                                'Pass one OpenSSH public key line, such as the contents of ~/.ssh/id_ed25519.pub.')
        if any(k['name'] == name for k in self.ssh_keys):
            return self.invalid('Invalid request data: an SSH key named %r already exists.' % name,
                                'Choose another name, or delete the existing key first.')
        if public_key is None:
            public_key, private_key = _generate_key_pair()
            key = dict(id=new_id(), name=name, public_key=public_key)
            self.ssh_keys.append(key)
            return self.ok(dict(key, private_key=private_key))
        key = dict(id=new_id(), name=name, public_key=public_key.strip())
        self.ssh_keys.append(key)
        return self.ok(dict(key))

    def delete_ssh_key(self, req, key_id):
        for key in self.ssh_keys:
            if key['id'] == key_id:
                self.ssh_keys.remove(key)
                return self.ok({})
        return self._envelope(404, 'global/not-found', 'The requested resource was not found.')
