//! Roles and permissions (SPEC §3 Role).

use std::collections::BTreeSet;

use super::fixtures::*;
use crate::*;

#[test]
fn per_profile_grants_are_scoped() {
    let approver = Role::new(RoleId::from_u128(1), "Approver P1")
        .with_profile_permission(ProfilePermission::CanApprove, ProfileScope::Only(BTreeSet::from([P1])));
    let permissions = Permissions::from_roles([&approver]);
    assert!(permissions.permits(Permission::on(ProfilePermission::CanApprove, P1)));
    assert!(!permissions.permits(Permission::on(ProfilePermission::CanApprove, P2)));
    assert!(!permissions.permits(Permission::on(ProfilePermission::CanRequest, P1)));
    assert_eq!(
        permissions.require(Permission::on(ProfilePermission::CanApprove, P2)),
        Err(Refusal::NotPermitted { permission: Permission::on(ProfilePermission::CanApprove, P2) })
    );
}

#[test]
fn roles_combine_and_all_profiles_covers_future_ones() {
    let issuer = Role::new(RoleId::from_u128(1), "Issuer")
        .with_profile_permission(ProfilePermission::CanCollect, ProfileScope::All)
        .with_global(GlobalPermission::ManageBatches);
    let auditor = Role::new(RoleId::from_u128(2), "Auditor").with_global(GlobalPermission::ViewAudit);
    let permissions = Permissions::from_roles([&issuer, &auditor]);
    let later = ProfileId::from_u128(999);
    assert!(permissions.permits(Permission::on(ProfilePermission::CanCollect, later)));
    assert!(permissions.permits(Permission::global(GlobalPermission::ManageBatches)));
    assert!(permissions.permits(Permission::global(GlobalPermission::ViewAudit)));
    assert!(!permissions.permits(Permission::global(GlobalPermission::Erase)));
}

#[test]
fn merging_scopes_of_one_permission() {
    let role = Role::new(RoleId::from_u128(1), "r")
        .with_profile_permission(ProfilePermission::CanRequest, ProfileScope::Only(BTreeSet::from([P1])))
        .with_profile_permission(ProfilePermission::CanRequest, ProfileScope::Only(BTreeSet::from([P2])));
    assert_eq!(
        role.per_profile.get(&ProfilePermission::CanRequest),
        Some(&ProfileScope::Only(BTreeSet::from([P1, P2])))
    );
    let widened = role.with_profile_permission(ProfilePermission::CanRequest, ProfileScope::All);
    assert_eq!(widened.per_profile.get(&ProfilePermission::CanRequest), Some(&ProfileScope::All));
}

#[test]
fn everything_and_none() {
    for g in GlobalPermission::ALL {
        assert!(Permissions::everything().permits(Permission::global(g)));
        assert!(!Permissions::none().permits(Permission::global(g)));
    }
}

#[test]
fn only_operators_use_permissions() {
    let kiosk = Actor::cardholder(HOLDER, UseCases::all());
    assert_eq!(
        kiosk.require(Permission::global(GlobalPermission::ViewAudit)),
        Err(Refusal::OperatorRequired)
    );
    assert_eq!(
        Actor::system().require(Permission::global(GlobalPermission::ViewAudit)),
        Err(Refusal::OperatorRequired)
    );
}

#[test]
fn permissions_round_trip_through_json() {
    let role = Role::new(RoleId::from_u128(1), "Issuer")
        .with_profile_permission(ProfilePermission::CanCollect, ProfileScope::Only(BTreeSet::from([P1])))
        .with_global(GlobalPermission::Erase);
    let permissions = Permissions::from_roles([&role]);
    let json = serde_json::to_string(&permissions).unwrap();
    assert_eq!(serde_json::from_str::<Permissions>(&json).unwrap(), permissions);
    let json = serde_json::to_string(&role).unwrap();
    assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
}
