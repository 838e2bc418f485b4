"""The mission state machine: every legal edge is allowed and every other move raises."""

from __future__ import annotations

import itertools

import pytest

from dronectl.states import ACTIVE, LEGAL, TERMINAL, IllegalTransition, MissionState, transition

S = MissionState

EXPECTED_EDGES = {
    (S.PLANNED, S.UPLOADING), (S.PLANNED, S.ABORTED), (S.PLANNED, S.FAILED),
    (S.UPLOADING, S.LAUNCHING), (S.UPLOADING, S.ABORTED), (S.UPLOADING, S.FAILED),
    (S.LAUNCHING, S.EN_ROUTE), (S.LAUNCHING, S.ABORTED), (S.LAUNCHING, S.FAILED),
    (S.EN_ROUTE, S.ON_SCENE), (S.EN_ROUTE, S.RETURNING), (S.EN_ROUTE, S.LANDED), (S.EN_ROUTE, S.ABORTED),
    (S.EN_ROUTE, S.FAILED),
    (S.ON_SCENE, S.RETURNING), (S.ON_SCENE, S.LANDED), (S.ON_SCENE, S.EN_ROUTE), (S.ON_SCENE, S.ABORTED),
    (S.ON_SCENE, S.FAILED),
    (S.RETURNING, S.LANDED), (S.RETURNING, S.EN_ROUTE), (S.RETURNING, S.ABORTED), (S.RETURNING, S.FAILED),
}


@pytest.mark.parametrize("cur,to", sorted(EXPECTED_EDGES))
def test_legal_edge(cur: MissionState, to: MissionState) -> None:
    assert transition(cur, to) is to


ILLEGAL = sorted(set(itertools.product(S, S)) - EXPECTED_EDGES)


@pytest.mark.parametrize("cur,to", ILLEGAL)
def test_illegal_edge_raises(cur: MissionState, to: MissionState) -> None:
    with pytest.raises(IllegalTransition) as e:
        transition(cur, to)
    assert e.value.current is cur and e.value.target is to
    assert f"{cur.value} -> {to.value}" in str(e.value)


def test_table_matches_documented_edges() -> None:
    assert {(a, b) for a, bs in LEGAL.items() for b in bs} == EXPECTED_EDGES


def test_happy_path_and_terminal_states() -> None:
    path = [S.PLANNED, S.UPLOADING, S.LAUNCHING, S.EN_ROUTE, S.ON_SCENE, S.RETURNING, S.LANDED]
    for a, b in itertools.pairwise(path):
        transition(a, b)
    assert TERMINAL == {S.LANDED, S.ABORTED, S.FAILED}
    assert ACTIVE | TERMINAL == set(S) and not ACTIVE & TERMINAL
    for s in TERMINAL:
        assert LEGAL[s] == frozenset()
    for s in ACTIVE:
        assert S.FAILED in LEGAL[s] and S.ABORTED in LEGAL[s]
