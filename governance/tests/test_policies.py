from governance.policies import OWNER, STEWARD, missing_text, requirement_met, roles_of


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
