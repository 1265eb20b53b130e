# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a nanochat speedrun costs: the estimate table, billing time and cost of an instance.

Pure functions, shared by the ``instance_cost`` / ``speedrun_estimate`` filters, the roles and
(later) a cross-provider offers module.

The table gives the wall-clock hours of a whole speedrun (``runs/speedrun.sh`` at the
collection's default pin, d24) on 8 GPUs of each type; other counts scale with the GPU count
(nanochat's training is data-parallel: half the GPUs, twice the time). Sources, written beside
each figure (see /work/shared/reference/nanochat.md, sections 6 and 16):

- 8x H100: nanochat's README at the pin, "~2 hours of 8XH100 GPU node ... $48" (about 1.65 h of
  base_train, plus evals, SFT, compile warm-up).
- 8x A100: "roughly 2x slower" than 8x H100 (README "a bit slower"; an October 2025 8xA100 report).
- one GPU: about 8x the 8-GPU time (the speedrun's own note: same result, ~8x longer, through
  gradient accumulation); one A100 with the speedrun settings took ~3.5 h on a smaller model (d14).
- H200 and B200: not documented; taken as the H100 figure (same or faster), marked ``assumed``.
- Other types: scaled by their bf16 throughput relative to the H100, marked ``assumed``.

Setup (boot, ``uv sync``: 10-20 min on a poorly networked host) is added separately
(SETUP_HOURS).
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._speedrun import format_duration

# hours on 8 GPUs, and where the figure comes from
SPEEDRUN_HOURS_8 = {
    'H100': (2.0, "nanochat README: ~2 hours of 8XH100 (~$48)"),
    'H100-NVL': (2.2, 'assumed: H100 PCIe/NVL ~10% slower than SXM'),
    'H100-PCIE': (2.4, 'assumed: H100 PCIe ~20% slower than SXM (lower clocks, no NVLink)'),
    'H200': (2.0, 'assumed: same as 8xH100 (not documented)'),
    'B200': (2.0, 'assumed: same as 8xH100 (not documented; likely faster)'),
    'A100-80GB': (4.0, 'nanochat reference: 8xA100 roughly 2x slower than 8xH100'),
    'A100': (4.0, 'nanochat reference: 8xA100 roughly 2x slower than 8xH100 (40GB may need a smaller batch)'),
    'L40S': (5.0, 'assumed: ~2.5x slower than H100 (bf16 throughput)'),
    'A6000': (8.0, 'assumed: ~4x slower than H100 (bf16 throughput)'),
    'A10': (12.0, 'assumed: ~6x slower than H100 (bf16 throughput; 24 GB needs a smaller batch)'),
    'RTX4090': (6.0, 'assumed: ~3x slower than H100 (24 GB needs a smaller batch)'),
    'RTX5090': (5.0, 'assumed: ~2.5x slower than H100 (32 GB needs a smaller batch)'),
}
# Boot + uv sync + data download start, on top of the run (nanochat reference section 6).
SETUP_HOURS = 0.25


def speedrun_hours(gpu_type, count):
    """Estimated wall-clock hours of a speedrun on ``count`` GPUs of ``gpu_type`` (a gpu_spec type).

    Returns (hours, source) or (None, reason) for an unknown type or a count below 1.
    """
    key = str(gpu_type or '').upper()
    if key not in SPEEDRUN_HOURS_8:
        return None, 'no estimate for GPU type %s' % gpu_type
    try:
        count = int(count)
    except (TypeError, ValueError):
        return None, 'GPU count %r is not a number' % (count,)
    if count < 1:
        return None, 'GPU count must be 1 or more'
    hours8, source = SPEEDRUN_HOURS_8[key]
    return hours8 * 8.0 / count, source + ('' if count == 8 else '; scaled to %d GPU(s) (x%g)' % (count, 8.0 / count))


def speedrun_estimate(gpu_type, count, price_per_hour):
    """dict(hours, setup_hours, cost_usd, source, text) for one speedrun at ``price_per_hour`` (USD/h, whole instance).

    cost_usd is None when the price or the hours are unknown.
    """
    hours, source = speedrun_hours(gpu_type, count)
    try:
        price = float(price_per_hour) if price_per_hour not in (None, '') else None
    except (TypeError, ValueError):
        price = None
    cost = None
    if hours is not None and price is not None:
        cost = round((hours + SETUP_HOURS) * price, 2)
    if hours is None:
        text = 'speedrun cost unknown (%s)' % source
    elif cost is None:
        text = 'a speedrun takes about %.1f h (%s); price unknown' % (hours, source)
    else:
        text = 'a speedrun takes about %.1f h + %.2f h setup, about %.2f USD at %.2f USD/hour (%s)' % (
            hours, SETUP_HOURS, cost, price, source)
    return dict(hours=hours, setup_hours=SETUP_HOURS, cost_usd=cost, price_per_hour=price, source=source, text=text)


def _epoch(value):
    """An epoch number or an ISO 8601 / RFC 3339 time -> epoch seconds, else None."""
    if value in (None, ''):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    text = text.replace('Z', '+00:00')
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def billing_seconds(instance, now=None):
    """How long ``instance`` (normalized, with ``raw``) has been billing, in seconds, and how that is known.

    Returns (seconds, source): the provider's own figure where the API has one (RunPod
    ``runtime.uptime``, Vast.ai ``start_date``/``uptime_mins``), else its creation time
    (RunPod ``createdAt``, Lambda has none in its API), else (None, 'unknown').
    """
    now = time.time() if now is None else now
    raw = (instance or {}).get('raw') or {}
    provider = (instance or {}).get('provider')
    if provider == 'runpod':
        runtime = raw.get('runtime') or {}
        if isinstance(runtime, dict) and isinstance(runtime.get('uptime'), (int, float)) and runtime['uptime'] > 0:
            return float(runtime['uptime']), 'RunPod runtime.uptime'
        for key in ('lastStartedAt', 'createdAt'):
            start = _epoch(raw.get(key))
            if start:
                return max(0.0, now - start), 'RunPod ' + key
    if provider == 'vastai':
        start = _epoch(raw.get('start_date'))
        if start and start <= now:
            return max(0.0, now - start), 'Vast.ai start_date'
        if isinstance(raw.get('uptime_mins'), (int, float)) and raw['uptime_mins'] > 0:
            return raw['uptime_mins'] * 60.0, 'Vast.ai uptime_mins'
    for key in ('created_at', 'created', 'createdAt', 'launched_at'):
        start = _epoch(raw.get(key))
        if start and start <= now:
            return max(0.0, now - start), '%s %s' % (provider, key)
    return None, 'unknown'


def instance_cost(instance, now=None):
    """dict(uptime_seconds, uptime, cost_usd, price_per_hour, source, text) of one instance."""
    seconds, source = billing_seconds(instance, now=now)
    price = (instance or {}).get('price_per_hour')
    try:
        price = float(price) if price not in (None, '') else None
    except (TypeError, ValueError):
        price = None
    cost = round(seconds / 3600.0 * price, 2) if seconds is not None and price is not None else None
    if seconds is None:
        text = 'uptime unknown (the %s API reports no start time)' % (instance or {}).get('provider')
    else:
        text = 'up %s' % format_duration(seconds)
    if cost is not None:
        text += ', about %.2f USD at %.2f USD/hour' % (cost, price)
    elif price is not None:
        text += ', %.2f USD/hour' % price
    return dict(uptime_seconds=None if seconds is None else round(seconds, 1), uptime=format_duration(seconds),
                cost_usd=cost, price_per_hour=price, source=source, text=text)


def run_cost(price_per_hour, billed_seconds, eta_seconds=None):
    """Cost so far and projected total at the ETA: dict(cost_so_far_usd, projected_total_usd), None when unknown."""
    try:
        price = float(price_per_hour)
    except (TypeError, ValueError):
        return dict(cost_so_far_usd=None, projected_total_usd=None)
    if price <= 0 or billed_seconds is None:
        return dict(cost_so_far_usd=None, projected_total_usd=None)
    so_far = price * billed_seconds / 3600.0
    projected = None if eta_seconds is None else so_far + price * eta_seconds / 3600.0
    return dict(cost_so_far_usd=round(so_far, 2), projected_total_usd=None if projected is None else round(projected, 2))
