from types import SimpleNamespace

from governance.policies import (
    OWNER,
    STEWARD,
    decider,
    missing_text,
    requirement,
    requirement_met,
    requirement_text,
    roles_of,
)


def test_defaults_by_sensitivity():
    assert requirement_met("public", []) and requirement_met("internal", [])
    assert not requirement_met("confidential", [])
    assert requirement_met("confidential", [(1, [STEWARD])])
    assert not requirement_met("confidential", [(1, [])])  # someone without a role counts for nothing


def test_restricted_needs_owner_and_steward_two_people():
    assert not requirement_met("restricted", [(1, [OWNER])])
    assert not requirement_met("restricted", [(2, [STEWARD]), (3, [STEWARD])])
    # One person holding both roles is still one person.
    assert not requirement_met("restricted", [(1, [OWNER, STEWARD])])
    assert requirement_met("restricted", [(1, [OWNER, STEWARD]), (2, [STEWARD])])
    assert requirement_met("restricted", [(1, [OWNER]), (2, [STEWARD])])
    assert "steward" in missing_text("restricted", [(1, [OWNER])])


def test_roles_of():
    assert roles_of(1, owner_id=1, steward_ids=[1, 2]) == [OWNER, STEWARD]
    assert roles_of(3, owner_id=1, steward_ids=[2]) == []
    # Through groups: a member of the owner group holds the owner role.
    assert roles_of(3, owner_id=1, owner_ids=[3, 4], steward_ids=[2]) == [OWNER]


def test_one_table_gives_each_rule_its_number_and_its_words():
    assert [requirement(s).approvals for s in ("public", "internal", "confidential", "restricted")] == [
        0,
        0,
        1,
        2,
    ]
    assert requirement("something-new") == requirement("restricted")  # unknown: as strict as it gets
    assert requirement_text("confidential") == "confidential: needs one approval by the owner or a steward"
    assert requirement_text("restricted") == (
        "restricted: needs two approvals by two different people, the owner and a steward"
    )
    assert requirement_text("odd") == "odd: unknown sensitivity, treated as restricted"


def _dataset(pk, owner_id, steward_ids=()):
    stewards = [SimpleNamespace(pk=s) for s in steward_ids]
    return SimpleNamespace(
        pk=pk,
        urn=f"dataset:s3://lake:d{pk}",
        owner_id=owner_id,
        owner_group_id=None,
        stewards=SimpleNamespace(all=lambda: stewards),
        # As a list's prefetch leaves them: no query asked.
        _prefetched_objects_cache={"stewards": stewards, "steward_groups": []},
    )


def test_a_decider_holds_a_role_on_every_dataset_of_someone_elses_request():
    user = SimpleNamespace(pk=1, is_authenticated=True, _team_group_ids=frozenset())
    mine, stewarded, foreign = _dataset(10, 1), _dataset(11, 5, [1]), _dataset(12, 5)
    ok = decider(user, requester_id=2, datasets=[mine, stewarded])
    assert ok.refusal == "" and ok.roles == {"10": [OWNER], "11": [STEWARD]}
    assert (
        "neither for dataset:s3://lake:d12" in decider(user, requester_id=2, datasets=[mine, foreign]).refusal
    )
    assert "their own" in decider(user, requester_id=1, datasets=[mine]).refusal
    assert (
        "Sign in" in decider(SimpleNamespace(is_authenticated=False), requester_id=2, datasets=[mine]).refusal
    )
    # A request whose datasets were all deleted has nobody to decide it.
    assert "nobody may decide" in decider(user, requester_id=2, datasets=[]).refusal
