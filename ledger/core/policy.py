"""Endorsement policies: which signers a transaction needs (Fabric's signature policies).

Grammar: `AND(p, ...)`, `OR(p, ...)`, `OutOf(n, p, ...)` over principals `'Org.role'`
(role: peer, admin, client, orderer, member), and the channel-wide shorthands `MAJORITY`
and `ANY` (of the channel's peer organizations' peers). A policy is parsed once and
evaluated against the identities that signed; each signer satisfies at most one principal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ledger.core.identity import Identity

PRINCIPAL_ROLES = ("peer", "admin", "client", "orderer", "member")
POLICY_LENGTH_MAX = 4096
VERDICTS_CACHED_MAX = 4096


class PolicyError(ValueError):
    """A policy string that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Principal:
    org: str
    role: str

    def matches(self, identity: Identity) -> bool:
        return identity.org == self.org and (self.role == "member" or identity.role == self.role)


@dataclass(frozen=True, slots=True)
class OutOf:
    n: int
    rules: tuple["Rule", ...]


Rule = Principal | OutOf

_TOKEN = re.compile(r"\s*(?:(AND|OR|OutOf|MAJORITY|ANY)\b|('[^']*'|\"[^\"]*\")|(\d+)|([(),]))")


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise PolicyError(f"unexpected text at position {pos}: {text[pos:pos + 20]!r}")
        tokens.append(next(group for group in match.groups() if group is not None))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], peer_orgs: Sequence[str]) -> None:
        self.tokens, self.pos, self.peer_orgs = tokens, 0, peer_orgs

    def take(self, expected: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise PolicyError("policy ends too early")
        token = self.tokens[self.pos]
        if expected is not None and token != expected:
            raise PolicyError(f"expected {expected!r}, found {token!r}")
        self.pos += 1
        return token

    def rule(self) -> Rule:
        token = self.take()
        if token in ("MAJORITY", "ANY"):
            principals = tuple(Principal(org, "peer") for org in self.peer_orgs)
            if not principals:
                raise PolicyError(f"{token} needs at least one peer organization")
            return OutOf(len(principals) // 2 + 1 if token == "MAJORITY" else 1, principals)
        if token[0] in "'\"":
            org, dot, role = token[1:-1].rpartition(".")
            if not dot or not org or role not in PRINCIPAL_ROLES:
                raise PolicyError(f"principal {token} must be 'Org.role' with role in {PRINCIPAL_ROLES}")
            return Principal(org, role)
        if token not in ("AND", "OR", "OutOf"):
            raise PolicyError(f"unexpected {token!r}")
        self.take("(")
        n: int | None = None
        if token == "OutOf":
            n = int(self.take())
            self.take(",")
        rules = [self.rule()]
        while self.tokens[self.pos:self.pos + 1] == [","]:
            self.take(",")
            rules.append(self.rule())
        self.take(")")
        count = {"AND": len(rules), "OR": 1}.get(token, n)
        assert count is not None
        if not 1 <= count <= len(rules):
            raise PolicyError(f"OutOf({count}, ...) needs between 1 and {len(rules)}")
        return OutOf(count, tuple(rules))


@dataclass(frozen=True, slots=True)
class Policy:
    text: str
    rule: Rule
    _verdicts: dict[tuple[tuple[str, str], ...], bool] = field(default_factory=dict, compare=False, repr=False)

    def satisfied_by(self, signers: Iterable[Identity]) -> bool:
        """True when distinct signers satisfy the policy (each signer used at most once).

        The verdict depends only on the multiset of (org, role) of the distinct signers, so
        it is memoized on that (every transaction of a chaincode asks the same question).
        """
        # Asked for every endorsement and twice for every validated transaction: the
        # certificate fields are read off the body directly (Identity.id is org/name, its org
        # and role the body's), ~1.2 us of the ~3 us a call cost through the properties.
        distinct: dict[str, Identity] = {}
        for identity in signers:
            body = identity.body
            distinct[f"{body.org}/{body.name}"] = identity  # = identity.id: the last one of an id counts
        key = tuple(sorted([(identity.body.org, identity.body.role) for identity in distinct.values()]))
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = _satisfy(self.rule, list(distinct.values()), frozenset()) is not None
            if len(self._verdicts) >= VERDICTS_CACHED_MAX:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict


def parse_policy(text: str, peer_orgs: Sequence[str] = ()) -> Policy:
    if len(text) > POLICY_LENGTH_MAX:
        raise PolicyError("policy text is too long")
    parser = _Parser(_tokenize(text), peer_orgs)
    rule = parser.rule()
    if parser.pos != len(parser.tokens):
        raise PolicyError(f"unexpected {parser.tokens[parser.pos]!r} after the policy")
    return Policy(text, rule)


def _satisfy(rule: Rule, signers: list[Identity], used: frozenset[int]) -> frozenset[int] | None:
    """Backtracking search: the set of signer indexes used, or None when unsatisfiable."""
    return next(_assignments(rule, signers, used), None)


def _assignments(rule: Rule, signers: list[Identity], used: frozenset[int]) -> Iterator[frozenset[int]]:
    """Every way (lazily) to satisfy `rule` with unused signers: a later principal may need
    the signer an earlier one took first, so each choice is revisited on failure."""
    if isinstance(rule, Principal):
        for index, identity in enumerate(signers):
            if index not in used and rule.matches(identity):
                yield used | {index}
        return
    yield from _assignments_n(rule.rules, rule.n, signers, used)


def _assignments_n(rules: tuple[Rule, ...], n: int, signers: list[Identity], used: frozenset[int]) -> Iterator[frozenset[int]]:
    if n == 0:
        yield used
        return
    if len(rules) < n:
        return
    first, rest = rules[0], rules[1:]
    for taken in _assignments(first, signers, used):
        yield from _assignments_n(rest, n - 1, signers, taken)
    yield from _assignments_n(rest, n, signers, used)
