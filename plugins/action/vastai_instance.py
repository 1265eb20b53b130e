# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of nanochat.remote_gpu.vastai_instance: runs the module and prints a progress line every
progress_interval seconds while it waits (plugin_utils/_wait_progress.py)."""

from __future__ import annotations

from ansible_collections.nanochat.remote_gpu.plugins.plugin_utils._wait_progress import WaitProgressAction


class ActionModule(WaitProgressAction):
    pass
