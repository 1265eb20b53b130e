# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The results of a nanochat speedrun: which files, their sha256 manifest, the "fetched" marker.

Used by the ``speedrun_results`` module, on the GPU machine (select, hash, mark, check) and on
the control node (verify a local copy). Functions take paths and return plain data.

Selection (relative to ``NANOCHAT_BASE_DIR``; the run's own files under ``run/``):

- ``chatsft_checkpoints/<tag>/``: the newest tag, its last step's ``model_<step>.pt`` and
  ``meta_<step>.json``;
- ``tokenizer/``, ``base_eval/``, ``report/`` (every file, where they exist);
- optional: ``base_checkpoints/<tag>/`` last step (model + meta; ``optim_<step>_rank*.pt`` only
  with ``optimizer``), ``chatrl_checkpoints/<tag>/`` last step, extra paths;
- ``run/speedrun.log`` and ``run/state``: the run's log and state file (from the run dir).

Manifest: ``sha256sum`` format, ``<hex>  <relative path>`` a line, sorted by path; its digest is
the sha256 of that text.

The marker (``<run dir>/fetched.json``), JSON::

    {"version": 1, "manifest_sha256": "...", "manifest_path": "<run dir>/MANIFEST.sha256",
     "files": [{"path": "chatsft_checkpoints/d24/model_000005.pt", "size": 16, "sha256": "...",
                "mtime_ns": 1767268800000000000}, ...],
     "selection": {...}, "run_id": "...", "fetched_at": "2026-12-02T20:00:00Z",
     "dest_host": "laptop", "dest_path": "/home/me/nanochat-results/nanochat"}
"""

from __future__ import annotations

import hashlib
import json
import os
import re

MARKER_NAME = 'fetched.json'
MANIFEST_NAME = 'MANIFEST.sha256'
MARKER_VERSION = 1
RUN_PREFIX = 'run/'
_STEP_FILE = re.compile(r'^(model|meta|optim)_(\d+)(?:_rank\d+)?\.(pt|json)$')
CHUNK = 4 * 1024 * 1024


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def _walk_files(root, rel):
    """Every regular file under root/rel (a file or a directory), as relative paths, sorted."""
    top = os.path.join(root, rel)
    if os.path.isfile(top):
        return [rel]
    found = []
    for directory, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(directory, name)
            if os.path.isfile(full) and not os.path.islink(full):
                found.append(os.path.relpath(full, root))
    return found


def newest_tag(checkpoints_dir):
    """The tag directory (e.g. d24) whose step files were written last, or None."""
    best = None
    try:
        names = os.listdir(checkpoints_dir)
    except OSError:
        return None
    for name in sorted(names):
        path = os.path.join(checkpoints_dir, name)
        if not os.path.isdir(path):
            continue
        mtimes = [os.stat(os.path.join(path, f)).st_mtime for f in os.listdir(path) if _STEP_FILE.match(f)]
        if mtimes and (best is None or max(mtimes) > best[0]):
            best = (max(mtimes), name)
    return best[1] if best else None


def last_step_files(base_dir, kind, optimizer=False):
    """The last step's files of the newest tag of ``kind`` (chatsft_checkpoints...), relative to base_dir."""
    root = os.path.join(base_dir, kind)
    tag = newest_tag(root)
    if tag is None:
        return []
    steps = {}
    for name in os.listdir(os.path.join(root, tag)):
        match = _STEP_FILE.match(name)
        if match:
            steps.setdefault(int(match.group(2)), []).append((match.group(1), name))
    if not steps:
        return []
    last = max(steps)
    return sorted('%s/%s/%s' % (kind, tag, name) for what, name in steps[last]
                  if what in ('model', 'meta') or (what == 'optim' and optimizer))


def select(base_dir, run_dir, base_checkpoints=False, optimizer=False, chatrl=False, extra_paths=()):
    """The files to bring home: list of (relative path in the result folder, absolute path on the machine)."""
    chosen = []
    rels = list(last_step_files(base_dir, 'chatsft_checkpoints'))
    for directory in ('tokenizer', 'base_eval', 'report'):
        if os.path.isdir(os.path.join(base_dir, directory)):
            rels.extend(_walk_files(base_dir, directory))
    if base_checkpoints:
        rels.extend(last_step_files(base_dir, 'base_checkpoints', optimizer=optimizer))
    if chatrl:
        rels.extend(last_step_files(base_dir, 'chatrl_checkpoints'))
    for extra in extra_paths or ():
        extra = os.path.normpath(str(extra)).lstrip('/')
        if extra.startswith('..'):
            raise ValueError('extra path %s leaves NANOCHAT_BASE_DIR' % extra)
        if not os.path.exists(os.path.join(base_dir, extra)):
            raise ValueError('extra path %s does not exist in %s' % (extra, base_dir))
        rels.extend(_walk_files(base_dir, extra))
    for rel in sorted(set(rels)):
        chosen.append((rel, os.path.join(base_dir, rel)))
    for name in ('speedrun.log', 'state'):
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            chosen.append((RUN_PREFIX + name, path))
    return chosen


def describe(chosen, cache=None):
    """[(rel, abs)] -> [{path, size, sha256, mtime_ns}]; a cache entry with the same size and mtime is reused."""
    known = dict((entry['path'], entry) for entry in (cache or []))
    files = []
    for rel, path in chosen:
        info = os.stat(path)
        old = known.get(rel)
        if old and old.get('size') == info.st_size and old.get('mtime_ns') == info.st_mtime_ns and old.get('sha256'):
            digest = old['sha256']
        else:
            digest = sha256_file(path)
        files.append(dict(path=rel, size=info.st_size, sha256=digest, mtime_ns=info.st_mtime_ns))
    return files


def manifest_text(files):
    return ''.join('%s  %s\n' % (f['sha256'], f['path']) for f in sorted(files, key=lambda f: f['path']))


def manifest_digest(files):
    return hashlib.sha256(manifest_text(files).encode('utf-8')).hexdigest()


def parse_manifest(text):
    """sha256sum text -> {path: hex}."""
    result = {}
    for line in text.splitlines():
        match = re.match(r'^([0-9a-f]{64}) [ *](.+)$', line.strip())
        if match:
            result[match.group(2)] = match.group(1)
    return result


def read_marker(run_dir):
    try:
        with open(os.path.join(run_dir, MARKER_NAME)) as handle:
            marker = json.load(handle)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get('version') == MARKER_VERSION else None


def compare(marker, files):
    """What changed between the marker's files and ``files`` now: {changed, added, removed} lists of paths."""
    before = dict((f['path'], f['sha256']) for f in (marker or {}).get('files', []))
    now = dict((f['path'], f['sha256']) for f in files)
    return dict(changed=sorted(p for p in now if p in before and before[p] != now[p]),
                added=sorted(p for p in now if p not in before),
                removed=sorted(p for p in before if p not in now))


def write_atomic(path, text, mode=0o600):
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w') as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def verify_local(dest, files, cache_path=None, rehash=False):
    """Check a local copy against ``files``: {ok, missing, mismatched, bytes_missing, verified}.

    ``cache_path``: a JSON file of {path: {size, mtime_ns, sha256}} verified earlier; a file with
    the same size and mtime is not hashed again (unless ``rehash``). The cache is rewritten.
    """
    cache = {}
    if cache_path and not rehash:
        try:
            with open(cache_path) as handle:
                cache = json.load(handle)
        except (OSError, ValueError):
            cache = {}
    missing, mismatched, bytes_missing = [], [], 0
    fresh = {}
    for entry in files:
        path = os.path.join(dest, entry['path'])
        try:
            info = os.stat(path)
        except OSError:
            missing.append(entry['path'])
            bytes_missing += entry['size']
            continue
        old = cache.get(entry['path'])
        if old and old.get('size') == info.st_size and old.get('mtime_ns') == info.st_mtime_ns:
            digest = old.get('sha256')
        elif info.st_size != entry['size']:
            digest = None
        else:
            digest = sha256_file(path)
        if digest != entry['sha256']:
            mismatched.append(entry['path'])
            bytes_missing += entry['size']
        else:
            fresh[entry['path']] = dict(size=info.st_size, mtime_ns=info.st_mtime_ns, sha256=digest)
    if cache_path and os.path.isdir(os.path.dirname(cache_path) or '.'):
        write_atomic(cache_path, json.dumps(fresh, sort_keys=True), mode=0o644)
    return dict(ok=not missing and not mismatched, missing=missing, mismatched=mismatched,
                bytes_missing=bytes_missing, verified=len(fresh))
