# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's version, as galaxy.yml states it (a test checks they agree): listeners
advertise it in their heartbeats (docs/upgrading.md)."""
from __future__ import annotations

VERSION = "0.3.0"
