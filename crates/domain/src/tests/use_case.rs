//! Use-case enablement (SPEC §5).

use crate::*;

#[test]
fn defaults_follow_the_seeds() {
    let defaults = UseCases::default();
    let disabled: Vec<_> = UseCase::ALL.into_iter().filter(|u| !defaults.is_enabled(*u)).collect();
    assert_eq!(
        disabled,
        vec![UseCase::Request, UseCase::DirectIssue, UseCase::TempInitialize],
        "seed 002 (request card, issue card) and seed 001 (initialize temporary card) are off by default"
    );
}

#[test]
fn at_least_one_way_to_produce_cards_must_be_enabled() {
    // Seed 002: "you must enable at least one of them".
    let mut use_cases = UseCases::default();
    assert_eq!(use_cases.check_card_issuance(), Err(Error::NoCardIssuanceUseCase));
    use_cases.enable(UseCase::DirectIssue);
    assert_eq!(use_cases.check_card_issuance(), Ok(()));
}

#[test]
fn a_disabled_use_case_is_refused() {
    let mut use_cases = UseCases::all();
    assert_eq!(use_cases.require(UseCase::Audit), Ok(()));
    use_cases.disable(UseCase::Audit).unwrap();
    assert_eq!(use_cases.require(UseCase::Audit), Err(Refusal::UseCaseDisabled(UseCase::Audit)));
    assert!(!use_cases.enabled().any(|u| u == UseCase::Audit));
}

#[test]
fn sign_in_and_administration_cannot_be_disabled() {
    let mut use_cases = UseCases::all();
    assert_eq!(use_cases.disable(UseCase::SignIn), Err(Error::UseCaseRequired(UseCase::SignIn)));
    assert_eq!(use_cases.disable(UseCase::Admin), Err(Error::UseCaseRequired(UseCase::Admin)));
    assert!(use_cases.is_enabled(UseCase::SignIn) && use_cases.is_enabled(UseCase::Admin));
}

#[test]
fn every_use_case_has_a_spec_id_and_title() {
    for u in UseCase::ALL {
        assert!(u.spec_id().starts_with("UC-"), "{u:?}");
        assert!(!u.title().is_empty());
    }
    assert_eq!(UseCase::TempInitialize.to_string(), "Initialize temporary card (UC-TEMP)");
}

#[test]
fn use_cases_round_trip_through_json() {
    let mut use_cases = UseCases::default();
    use_cases.enable(UseCase::Request);
    let json = serde_json::to_string(&use_cases).unwrap();
    assert!(json.contains("\"request\""), "snake_case names on the wire: {json}");
    assert_eq!(serde_json::from_str::<UseCases>(&json).unwrap(), use_cases);
}
