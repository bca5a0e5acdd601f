"""Who a client is and what it may do: identities, their roles and their scopes.

A clients file (setting `clients_file`) lists them, each with the SHA-256 of its token (never
the token: the file can be read without giving anyone a way in), a role and, for operators, a
scope:

    - name: alice                # the author of what she writes
      token_sha256: 3a6e...      # printf %s "$TOKEN" | sha256sum
      role: operator             # viewer | operator | admin
      regions: [us]              # where an operator may write services; absent: every region
      namespaces: [shop, web]    # in which namespaces; absent: every one the fleet allows

viewer reads; operator also writes services (replicas, workloads, rollouts, removal) within
its scope; admin also registers, changes and removes clusters, everywhere. Without a clients
file, the one client token (`token`) is an admin called "client".
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re

import yaml

from ansible_collections.multicluster.kube.plugins.module_utils.validation import ValidationError, check_name

ROLES = ("viewer", "operator", "admin")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = {"name", "token_sha256", "role", "regions", "namespaces"}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Identity:
    name: str
    role: str
    regions: tuple = ()     # empty: every region
    namespaces: tuple = ()  # empty: every namespace

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def why_not(self, role: str, region: str = "", namespace: str = "") -> str:
        """Why this identity may not act as `role` on a service of `region` in `namespace`,
        beginning with what is missing ("" : it may)."""
        if not self.at_least(role):
            return f"role: {self.name} has the {self.role} role; this needs the {role} role"
        if role == "admin":
            return ""
        if region and self.regions and region not in self.regions:
            return f"region: {self.name} may write services in {', '.join(self.regions)} only, not in {region}"
        if namespace and self.namespaces and namespace not in self.namespaces:
            return f"namespace: {self.name} may write services in {', '.join(self.namespaces)} only, not in {namespace}"
        return ""


ADMIN = Identity("anonymous", "admin")  # every caller, when the listener has no client token


class Clients:
    """The identities, found by their token's hash."""

    def __init__(self, by_hash: dict):
        self._by_hash = by_hash

    @classmethod
    def single(cls, token: str) -> "Clients":
        """The one client token's holder, an admin; no token: every caller is (the listener warns)."""
        return cls({token_hash(token): Identity("client", "admin")} if token else {None: ADMIN})

    @classmethod
    def parse(cls, text: str, source: str = "clients_file") -> "Clients":
        """From a clients file's text; ValidationError naming the entry and the field."""
        try:
            entries = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValidationError(source, f"must be YAML: {error}", None) from None
        if not isinstance(entries, list) or not entries:
            raise ValidationError(source, "must be a list of clients (name, token_sha256, role)", type(entries).__name__)
        by_hash, names = {}, set()
        for i, entry in enumerate(entries):
            where = f"{source}[{i}]"
            if not isinstance(entry, dict):
                raise ValidationError(where, "must be a mapping of name, token_sha256, role, regions, namespaces", entry)
            unknown = sorted(set(entry) - _FIELDS)
            if unknown:
                raise ValidationError(f"{where}.{unknown[0]}", f"is not a field (fields: {', '.join(sorted(_FIELDS))})",
                                      entry[unknown[0]])
            name = entry.get("name")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}", name):
                raise ValidationError(f"{where}.name", "must be 1 to 128 letters, digits, '@', '.', '_', ':' or '-'",
                                      name)
            if name in names:
                raise ValidationError(f"{where}.name", "must be unique", name)
            digest = entry.get("token_sha256")
            if not isinstance(digest, str) or not _SHA256.match(digest):
                raise ValidationError(f"{where}.token_sha256", "must be the SHA-256 of the token, 64 lower-case hex "
                                      "digits (printf %s \"$TOKEN\" | sha256sum)", "<hidden>")
            if digest in by_hash:
                raise ValidationError(f"{where}.token_sha256", f"is {by_hash[digest].name}'s token too: give each "
                                      "client a token of its own", "<hidden>")
            role = entry.get("role")
            if role not in ROLES:
                raise ValidationError(f"{where}.role", f"must be one of {', '.join(ROLES)}", role)
            scope = {}
            for field in ("regions", "namespaces"):
                values = entry.get(field) or []
                if not isinstance(values, list):
                    raise ValidationError(f"{where}.{field}", "must be a list", values)
                scope[field] = tuple(check_name(f"{where}.{field}[{j}]", v) for j, v in enumerate(values))
            names.add(name)
            by_hash[digest] = Identity(name, role, **scope)
        return cls(by_hash)

    def identify(self, token: str):
        """The identity whose token this is, or None."""
        if None in self._by_hash:
            return self._by_hash[None]
        digest = token_hash(token) if token else ""
        for known, identity in self._by_hash.items():  # compared in constant time, each one
            if hmac.compare_digest(known, digest):
                return identity
        return None

    @property
    def open(self) -> bool:
        """No token at all: every caller is an admin (the listener warns)."""
        return None in self._by_hash

    def __len__(self) -> int:
        return len(self._by_hash)
