# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # wait / wait_timeout of the instance modules.
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait until the instance reaches the requested state. For O(state=present) and
        O(state=running) that means running B(with a known SSH endpoint) (host and port), not
        merely "running" as the provider first reports it.
      - The wait polls the provider about once a second and returns within about two seconds of
        the endpoint appearing.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait, measured with a monotonic clock. On timeout the module fails
        with the last status seen and leaves the instance as it is (it is billing); remove it with
        O(state=absent) or C(playbooks/teardown.yml) if you do not want to keep waiting.
    type: int
  progress_interval:
    description:
      - While the module waits, its action plugin (the module runs on the controller) prints a line
        every O(progress_interval) seconds - what is awaited, the last status seen, how long so
        far and the limit - instead of staying silent for up to O(wait_timeout). V(0) prints none.
    type: int
    default: 30
  progress_file:
    description:
      - Where the module writes the wait's progress for the action plugin (a small JSON file,
        replaced after each observation). Set by the action plugin; there is no need to give it.
    type: path
"""
