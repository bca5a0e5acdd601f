# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of input as value objects make them: ValidationError names the field and the rule,
alike for module input, API input and what peers send."""
from __future__ import annotations

import functools
import re
from typing import Mapping, Optional

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


class ValidationError(ValueError):
    """Bad input: `field` is where (e.g. `rules.clusters[us-east].min`), `rule` what it must satisfy."""

    def __init__(self, field_name: str, rule: str, value=None):
        self.field = field_name
        self.rule = rule
        self.value = value
        super().__init__(f"{field_name}: {rule} (got {value!r})")


# Most names come again and again (regions, clusters, the origins of stamps) in every record a
# listener decodes: their verdicts are remembered, the most recent NAMES_REMEMBERED of them.
# typed: a str subclass, which may hash and compare as it likes, is never taken for a str.
NAMES_REMEMBERED = 10_000


@functools.lru_cache(maxsize=NAMES_REMEMBERED, typed=True)
def _dns1123_label(value: str) -> bool:
    return len(value) <= 63 and _DNS1123_LABEL.match(value) is not None


def check_name(field_name: str, value) -> str:
    if not isinstance(value, str) or not _dns1123_label(value):
        raise ValidationError(
            field_name,
            "must be a DNS-1123 label: at most 63 characters, lower-case letters, digits and '-', "
            "starting and ending with a letter or digit",
            value,
        )
    return value


def check_int(field_name: str, value, low: int, high: int) -> int:
    # bool is an int in Python; True replicas is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(field_name, f"must be a whole number from {low} to {high}", value)
    return value


def check_optional_int(field_name: str, value, low: int, high: int) -> Optional[int]:
    return None if value is None else check_int(field_name, value, low, high)


def check_image(field_name: str, value) -> str:
    if not isinstance(value, str) or not value or len(value) > 512 or any(c.isspace() for c in value):
        raise ValidationError(field_name, "must be a container image reference without spaces", value)
    return value


def check_labels(field_name: str, labels) -> Mapping[str, str]:
    if not isinstance(labels, Mapping):
        raise ValidationError(field_name, "must be a mapping of label keys to values", labels)
    for key, value in labels.items():
        if not isinstance(key, str) or len(key) > 253 or not _LABEL_KEY.match(key):
            raise ValidationError(f"{field_name}[{key}]", "must be a Kubernetes label key", key)
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValidationError(f"{field_name}[{key}]", "must be a Kubernetes label value", value)
    return labels
