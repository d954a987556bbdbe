//! Wire-format tests: the JSON shapes clients rely on.

use domain::{CancelReason, DeviceId, PersonId, RequestId};
use serde_json::json;
use time::macros::datetime;
use uuid::Uuid;

use super::*;

fn op(kind: OperationKind) -> Operation {
    Operation {
        op_id: Uuid::from_u128(7),
        actor: None,
        workstation: None,
        created_at: datetime!(2026-01-02 03:04:05 UTC),
        op: kind,
    }
}

#[test]
fn operation_json_names_its_kind_beside_the_payload() {
    let o = op(OperationKind::ApproveRequest(ApproveRequest {
        request: RequestId::from_u128(3),
        notes: Some("ok".into()),
    }));
    let value = serde_json::to_value(&o).unwrap();
    assert_eq!(value["op"]["kind"], "approve_request", "the kind tags the payload: {value}");
    assert_eq!(value["op"]["request"], Uuid::from_u128(3).to_string());
    assert_eq!(value["created_at"], "2026-01-02T03:04:05Z");
    let back: Operation = serde_json::from_value(value).unwrap();
    assert_eq!(back, o);
}

#[test]
fn device_change_round_trips_with_its_reason() {
    let o = op(OperationKind::ChangeDevice(ChangeDevice {
        device: DeviceId::from_u128(9),
        change: DeviceChange::Cancel { reason: CancelReason::Stolen },
        notes: None,
    }));
    let text = serde_json::to_string(&o).unwrap();
    assert!(text.contains(r#""change":{"change":"cancel","reason":"stolen"}"#), "{text}");
    assert_eq!(serde_json::from_str::<Operation>(&text).unwrap(), o);
}

#[test]
fn unknown_fields_and_kinds_are_refused() {
    let good = serde_json::to_value(op(OperationKind::CreatePerson(CreatePerson {
        id: PersonId::from_u128(1),
        given_name: "Ada".into(),
        family_name: "L".into(),
        email: None,
        employee_id: None,
    })))
    .unwrap();
    let mut extra = good.clone();
    extra["surprise"] = json!(1);
    assert!(serde_json::from_value::<Operation>(extra).is_err(), "an unknown envelope field is refused");
    let mut unknown = good.clone();
    unknown["op"]["kind"] = json!("drop_tables");
    assert!(serde_json::from_value::<Operation>(unknown).is_err(), "an unknown kind is refused");
    assert!(serde_json::from_value::<Operation>(good).is_ok());
}

#[test]
fn answers_are_tagged_by_status() {
    let rejected =
        Answer::Rejected { op_id: Uuid::from_u128(1), code: "not_permitted".into(), message: "no".into() };
    let value = serde_json::to_value(&rejected).unwrap();
    assert_eq!(value["status"], "rejected");
    assert_eq!(value["code"], "not_permitted");
    assert_eq!(rejected.rejection_code(), Some("not_permitted"));
    assert!(!rejected.is_accepted());
    let accepted = Answer::Accepted { op_id: Uuid::from_u128(2), result: OperationResult::default() };
    let value = serde_json::to_value(&accepted).unwrap();
    assert_eq!(value["status"], "accepted");
    assert_eq!(serde_json::from_value::<Answer>(value).unwrap(), accepted);
    assert_eq!(accepted.op_id(), Uuid::from_u128(2));
}

#[test]
fn cursors_parse_only_what_the_registry_hands_out() {
    assert_eq!("0".parse::<Cursor>().unwrap(), Cursor::START);
    assert_eq!("42".parse::<Cursor>().unwrap(), Cursor(42));
    assert_eq!(Cursor(42).to_string(), "42");
    for bad in ["", "-1", "1.5", "abc", "99999999999999999999999", " 1", "18446744073709551616"] {
        assert!(bad.parse::<Cursor>().is_err(), "{bad:?} is not a cursor");
    }
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let login = Login {
        username: "ada".into(),
        password: Password::new("hunter22"),
        workstation: None,
        workstation_key: None,
    };
    let shown = format!("{login:?}");
    assert!(!shown.contains("hunter22"), "the password must not appear in {shown}");
    let token = SessionToken::new("abcdef");
    assert!(!format!("{token:?}").contains("abcdef"));
    let secret = EscrowSecret::from_bytes(&[0xde, 0xad, 0x01]);
    assert_eq!(secret.expose(), "dead01");
    assert!(!format!("{secret:?}").contains("dead01"));
}

#[test]
fn escrow_secrets_decode_hex_or_fail() {
    assert_eq!(&*EscrowSecret::new("00ff10").to_bytes().unwrap(), &[0x00, 0xff, 0x10]);
    assert_eq!(EscrowSecret::new("0").to_bytes(), Err(Error::InvalidHex));
    assert_eq!(EscrowSecret::new("zz").to_bytes(), Err(Error::InvalidHex));
}

#[test]
fn login_password_deserializes_from_a_plain_string() {
    let login: Login = serde_json::from_value(json!({"username": "a", "password": "pw"})).unwrap();
    assert_eq!(login.password.expose(), "pw");
    assert_eq!(login.workstation, None);
}

#[test]
fn certificate_change_round_trips_with_its_reason() {
    let o = op(OperationKind::ChangeCertificate(ChangeCertificate {
        certificate: domain::CertificateId::from_u128(4),
        change: CertificateChange::Revoke { reason: domain::RevocationReason::KeyCompromise },
        notes: Some("lost".into()),
    }));
    let value = serde_json::to_value(&o).unwrap();
    assert_eq!(value["op"]["kind"], "change_certificate", "{value}");
    assert_eq!(value["op"]["change"], json!({"change": "revoke", "reason": "key_compromise"}));
    assert_eq!(serde_json::from_value::<Operation>(value).unwrap(), o);
    let hold: CertificateChange = serde_json::from_value(json!({"change": "hold"})).unwrap();
    assert_eq!(hold, CertificateChange::Hold);
    assert!(serde_json::from_value::<CertificateChange>(json!({"change": "unrevoke"})).is_err());
}

#[test]
fn issue_certificate_refuses_unknown_fields_and_defaults_the_route() {
    let body = json!({
        "op_id": Uuid::from_u128(1), "device": Uuid::from_u128(2), "slot": "piv_authentication",
        "public_key": "30", "challenge": "00", "signature": "00",
    });
    let issue: IssueCertificate = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(issue.route, None);
    assert_eq!(issue.slot, domain::Slot::PivAuthentication);
    let mut extra = body;
    extra["subject"] = json!("CN=chosen by the client");
    assert!(serde_json::from_value::<IssueCertificate>(extra).is_err(), "the subject is not the client's");
}

#[test]
fn a_chain_report_from_a_registry_before_the_audit_anchor_still_parses() {
    let old = json!({"intact": true, "events": 12, "broken_at": null, "reason": null});
    let report: ChainReport = serde_json::from_value(old).unwrap();
    assert!(report.intact && !report.sealed, "no anchor said: not sealed");
    assert_eq!((report.sealed_from, report.checkpoints, report.anchored), (None, 0, None));
    let new = serde_json::to_value(ChainReport { sealed: true, sealed_from: Some(0), ..report }).unwrap();
    assert_eq!(new["sealed"], true);
    assert_eq!(new["broken_at"], serde_json::Value::Null, "the existing fields keep their shape");
}
